#!/usr/bin/env python3
"""Regenerate schemas/: the declarative picture of what migrations/ builds, one file per schema.

    python scripts/dump_schemas.py --dsn 'host=... dbname=...' [--out schemas]

Dumps the database's schema (pg_dump -Fc --schema-only), filters the table of contents and splits
the restored SQL by schema. Excluded, because they are not what migrations/ creates:
  - FUNCTION, PROCEDURE, AGGREGATE entries: routines live in procedures/ (one file each);
  - plain VIEW entries (and their comments / grants): views are CREATE OR REPLACE'd from procedures/
    too; materialized views are created by migrations and stay;
  - yoyo's bookkeeping (_yoyo_*, yoyo_lock) and any table data.
Objects without a schema go to the file of the schema they create (SCHEMA, COMMENT ON SCHEMA, GRANT ON
SCHEMA); the remaining ones (extensions) go to _database.sql.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dwh_cli.embedded import find_bindir  # noqa: E402

EXCLUDED_TYPES = {"FUNCTION", "PROCEDURE", "AGGREGATE", "VIEW", "TABLE DATA"}
ROUTINE_WORDS = ("FUNCTION", "PROCEDURE", "AGGREGATE")
# TOC entry descriptions, longest first (pg_dump's "desc" can have several words)
DESCS = sorted([
    "ACCESS METHOD", "ACL", "AGGREGATE", "BLOB", "BLOBS", "CAST", "CHECK CONSTRAINT", "COLLATION",
    "COMMENT", "CONSTRAINT", "CONVERSION", "DATABASE", "DEFAULT", "DEFAULT ACL", "DOMAIN", "EVENT TRIGGER",
    "EXTENSION", "FK CONSTRAINT", "FOREIGN DATA WRAPPER", "FOREIGN SERVER", "FOREIGN TABLE", "FUNCTION",
    "INDEX", "INDEX ATTACH", "LANGUAGE", "MATERIALIZED VIEW", "MATERIALIZED VIEW DATA", "OPERATOR",
    "OPERATOR CLASS", "OPERATOR FAMILY", "POLICY", "PROCEDURE", "PUBLICATION", "PUBLICATION TABLE",
    "PUBLICATION TABLES IN SCHEMA", "ROW SECURITY", "RULE", "SCHEMA", "SECURITY LABEL", "SEQUENCE",
    "SEQUENCE OWNED BY", "SEQUENCE SET", "SERVER", "SHELL TYPE", "STATISTICS", "SUBSCRIPTION", "TABLE",
    "TABLE ATTACH", "TABLE DATA", "TEXT SEARCH CONFIGURATION", "TEXT SEARCH DICTIONARY",
    "TEXT SEARCH PARSER", "TEXT SEARCH TEMPLATE", "TRANSFORM", "TRIGGER", "TYPE", "USER MAPPING",
    "ENCODING", "STDSTRINGS", "SEARCHPATH",
], key=len, reverse=True)
ORDER = {desc: rank for rank, desc in enumerate([
    "SCHEMA", "EXTENSION", "TYPE", "DOMAIN", "SEQUENCE", "TABLE", "MATERIALIZED VIEW", "SEQUENCE OWNED BY",
    "DEFAULT", "TABLE ATTACH", "CONSTRAINT", "CHECK CONSTRAINT", "INDEX", "INDEX ATTACH", "TRIGGER",
    "FK CONSTRAINT", "COMMENT", "ACL", "DEFAULT ACL",
])}
TOC_LINE = re.compile(r"^(\d+); (\d+) (\d+) (.*)$")
YOYO = re.compile(r"(^|[\s.])(_yoyo\w*|yoyo_lock)\b")
HEADER = re.compile(r"^-- (?:Data for )?Name: (?P<name>.*); Type: (?P<type>.*); Schema: (?P<schema>[^;]*); "
                    r"Owner: .*$")


def parse_toc_entry(rest: str) -> tuple[str, str, str] | None:
    """'TABLE dwh_etl pipelines postgres' -> (desc, schema, name-and-owner)."""
    for desc in DESCS:
        if rest.startswith(desc + " "):
            schema, _, tail = rest[len(desc) + 1:].partition(" ")
            return desc, schema, tail
    return None


def filter_toc(toc: str) -> str:
    entries = []
    for line in toc.splitlines():
        m = TOC_LINE.match(line)
        if not m:
            continue
        parsed = parse_toc_entry(m.group(4))
        if parsed:
            entries.append((line, *parsed))
    views = {(schema, tail.split(" ")[0]) for _line, desc, schema, tail in entries if desc == "VIEW"}
    kept = []
    for line, desc, schema, tail in entries:
        if desc in EXCLUDED_TYPES or YOYO.search(tail):
            continue
        if desc in ("COMMENT", "ACL", "SECURITY LABEL"):
            words = tail.split(" ")
            if words[0] in ROUTINE_WORDS:
                continue
            if len(words) > 1 and words[0] in ("TABLE", "VIEW", "COLUMN"):
                if (schema, words[1].split(".")[0]) in views:
                    continue
        kept.append((schema, ORDER.get(desc, len(ORDER)), tail, line))
    # pg_dump's own order depends on object ids (how the database was built); sorting by schema, kind
    # and name makes the snapshot depend only on what exists. schemas/ is read, never restored.
    return "\n".join(line for *_key, line in sorted(kept)) + "\n"


def split_by_schema(sql: str) -> dict[str, str]:
    """Split pg_restore's SQL output into {schema: text} using the entry header comments."""
    lines = sql.splitlines(keepends=True)
    # drop volatile header lines
    # drop volatile lines: server/pg_dump versions and the random \restrict key (PostgreSQL 15.14+)
    lines = [ln for ln in lines if not ln.startswith(("-- Dumped from", "-- Dumped by", "\\restrict",
                                                      "\\unrestrict"))]
    # pg_restore emits these right before the first entry that needs them, i.e. in whichever chunk
    # happens to precede it: not stable once split by schema (both are the defaults anyway)
    lines = [ln for ln in lines if not ln.startswith(("SET default_tablespace", "SET default_table_access_method"))]
    preamble: list[str] = []
    chunks: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    i = 0
    while i < len(lines):
        ln = lines[i]
        # an entry starts with "--\n-- Name: ...\n--\n"
        if ln == "--\n" and i + 2 < len(lines) and HEADER.match(lines[i + 1].rstrip("\n")) and lines[i + 2] == "--\n":
            m = HEADER.match(lines[i + 1].rstrip("\n"))
            schema = m.group("schema")
            name, typ = m.group("name"), m.group("type")
            if schema == "-":
                if typ == "SCHEMA":
                    schema = name
                elif name.startswith("SCHEMA "):
                    schema = name[len("SCHEMA "):]
                else:
                    schema = "_database"
            current = []
            chunks.append((schema, current))
            current.extend(lines[i:i + 3])
            i += 3
            continue
        if current is None:
            preamble.append(ln)
        else:
            current.append(ln)
        i += 1
    # the trailer ("-- PostgreSQL database dump complete") ends up in the last chunk: remove it
    if chunks:
        last = chunks[-1][1]
        while last and (last[-1].strip() in ("", "--") or "database dump complete" in last[-1]):
            last.pop()
        last.append("\n")
    pre = "".join(preamble).rstrip("\n")
    pre = re.sub(r"^--\n-- PostgreSQL database dump\n--\n\n?", "", pre)
    out: dict[str, list[str]] = {}
    for schema, chunk in chunks:
        text = re.sub(r"\n{3,}", "\n\n", "".join(chunk))
        out.setdefault(schema, []).append(text.rstrip("\n") + "\n\n")
    header = ("-- GENERATED by scripts/dump_schemas.py from a database built by migrations/: do not edit.\n"
              "-- Routines and plain views are in procedures/.\n\n")
    return {schema: header + pre.strip() + "\n\n" + "".join(parts).rstrip("\n") + "\n"
            for schema, parts in out.items()}


def dump(conninfo: str) -> dict[str, str]:
    bindir = find_bindir()
    with tempfile.TemporaryDirectory(prefix="dwh-dump-") as tmp:
        archive = Path(tmp) / "schema.dump"
        listing = Path(tmp) / "toc.list"
        subprocess.run([str(bindir / "pg_dump"), "--schema-only", "--no-owner", "-Fc", "-f", str(archive),
                        "--dbname", conninfo], check=True)
        toc = subprocess.run([str(bindir / "pg_restore"), "-l", str(archive)], check=True,
                             capture_output=True, text=True).stdout
        listing.write_text(filter_toc(toc))
        sql = subprocess.run([str(bindir / "pg_restore"), "--no-owner", "-L", str(listing), "-f", "-",
                              str(archive)], check=True, capture_output=True, text=True).stdout
    return split_by_schema(sql)


def write(files: dict[str, str], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.sql"):
        if old.stem not in files:
            old.unlink()
    for schema, text in files.items():
        (out_dir / f"{schema}.sql").write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Example: python scripts/dump_schemas.py --dsn \"$(dwh db url)\"")
    ap.add_argument("--dsn", default=os.environ.get("DWH_DSN"),
                    help="conninfo of a database built by `dwh migrate` (default: $DWH_DSN)")
    ap.add_argument("--out", type=Path, default=ROOT / "schemas", help="output folder (default: schemas/)")
    args = ap.parse_args(argv)
    if not args.dsn:
        ap.error("--dsn is required (or set DWH_DSN)")
    files = dump(args.dsn)
    write(files, args.out)
    print(f"wrote {len(files)} files to {args.out}: {', '.join(sorted(files))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
