"""``dwh cdc ingest``: change events from a file or stdin, sent in batches to ``dwh_etl.ingest_cdc_events``.

The CLI only splits the input into batches: landing, ordering, deduplication, applying and quarantining
are SQL. Each batch is one call and one transaction. Events are sent as the text they were read as (no
float rounding through Python).

Input: a JSON array of events (pretty-printed or not), or JSON Lines (one event per line; empty lines are
skipped). A line of JSON Lines that is not JSON, or JSON that PostgreSQL's jsonb cannot hold (NaN,
Infinity, \\u0000, a lone UTF-16 surrogate escape such as \\ud800), is sent as a JSON string, so the
server quarantines it with the rest of its batch applied (a warning names the line); so is an element
of an array holding \\u0000 or a lone surrogate. An array that is not valid JSON is refused before
anything is sent. Input that is not UTF-8 is refused at its line (JSON Lines: the batches before it
were sent).
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import IO, Callable, Iterator

import click
import psycopg

from . import interrupt
from .config import connect
from .errors import DwhError, from_psycopg

Log = Callable[[str], None]

INGEST_SQL = """
    SELECT batch_id, events, applied, stale, duplicate, quarantined
    FROM dwh_etl.ingest_cdc_events(p_events => %s::jsonb, p_into => %s, p_source => %s)
"""
COUNTS = ("events", "applied", "stale", "duplicate", "quarantined")


def _noop(_msg: str) -> None:
    pass


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON that PostgreSQL accepts")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _strings(value) -> Iterator[str]:
    """Every string of a decoded JSON value, object keys included."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            yield v
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def _unstorable_value(value) -> str | None:
    """Why a decoded JSON value cannot be stored as jsonb (a NUL, or a lone UTF-16 surrogate escape such as
    \\ud800, which Python's json accepts and PostgreSQL's jsonb refuses), or None. Read from the decoded
    strings, not the text: an escaped backslash followed by u0000 is no NUL."""
    for text in _strings(value):
        if "\x00" in text:
            return "it contains \\u0000, which jsonb cannot store"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "it contains a lone UTF-16 surrogate escape, which jsonb cannot store"
    return None


def _storable(text: str) -> str | None:
    """Why the JSON text cannot be stored as jsonb, or None."""
    try:
        value = _DECODER.decode(text)
    except ValueError as exc:
        return str(exc)
    return _unstorable_value(value)


_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def _check_utf8(text: str, name: str, lineno: int, sent: str = "the batches before it were sent") -> None:
    """Refuse input that was not UTF-8 (read with surrogateescape), naming its line."""
    bad = _NOT_UTF8.search(text)
    if bad is not None:
        line = lineno + text.count("\n", 0, bad.start())
        raise DwhError(f"{name}: line {line} is not UTF-8 text",
                       hint=f"{sent}; convert the input to UTF-8 (e.g. iconv -f latin1 -t utf-8) and send it "
                            "again: events already applied count as duplicates")


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _array_elements(text: str, name: str, warn: Log) -> list[str]:
    """The elements of a JSON array, each as its original text."""
    out: list[str] = []
    i = _skip_ws(text, 1)
    if i < len(text) and text[i] == "]":
        return out
    while True:
        i = _skip_ws(text, i)
        try:
            _obj, end = _DECODER.raw_decode(text, i)
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError):
                raise DwhError(f"{name}: not a valid JSON array: {exc.msg} at line {exc.lineno} column {exc.colno}",
                               hint="nothing was sent; fix the file, or send JSON Lines") from None
            raise DwhError(f"{name}: element {len(out) + 1}: {exc}", hint="nothing was sent") from None
        elem = text[i:end]
        why = _unstorable_value(_obj)
        if why is not None:
            warn(f"{name}: element {len(out) + 1} is not a storable JSON event ({why}): sent as text to be quarantined")
            elem = json.dumps(elem)
        out.append(elem)
        i = _skip_ws(text, end)
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        if i < len(text) and text[i] == "]":
            if _skip_ws(text, i + 1) != len(text):
                raise DwhError(f"{name}: text after the end of the JSON array", hint="nothing was sent")
            return out
        raise DwhError(f"{name}: not a valid JSON array: expected ',' or ']' after element {len(out)}",
                       hint="nothing was sent; fix the file, or send JSON Lines")


def read_events(stream: IO[bytes], name: str, warn: Log = _noop) -> Iterator[str]:
    """Each event of the input as JSON text: a JSON array (read whole) or JSON Lines (streamed)."""
    # bytes that are not UTF-8 become lone surrogates (surrogateescape), found line by line by _check_utf8:
    # a strict decoder raised a traceback from inside a read-ahead block, lines before it unsent
    reader = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline=None)
    try:
        lineno = 0
        seen = False
        while True:
            line = reader.readline()
            if not line:
                return
            lineno += 1
            _check_utf8(line, name, lineno)
            text = line.strip()
            if not text:
                continue
            if not seen and text.startswith("["):
                rest = reader.read()
                _check_utf8(rest, name, lineno + 1, sent="nothing was sent")
                yield from _array_elements((text + "\n" + rest).strip(), name, warn)
                return
            seen = True
            why = _storable(text)
            if why is not None:
                warn(f"{name}: line {lineno} is not a storable JSON event ({why}): sent as text to be quarantined")
                text = json.dumps(text)
            yield text
    finally:
        reader.detach()  # the caller closes the stream


def _batches(events: Iterator[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for event in events:
        batch.append(event)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def ingest(conninfo: str, stream: IO[bytes], into: str, source: str, batch_size: int = 1000,
           name: str = "-", on_notice: Log = _noop, warn: Log = _noop) -> dict:
    """Send the events of ``stream`` in batches; totals and one row per batch."""
    totals = {key: 0 for key in COUNTS}
    batches: list[dict] = []
    with connect(conninfo, autocommit=True) as conn:
        conn.add_notice_handler(interrupt.notice_callback(lambda d: on_notice(d.message_primary or "")))
        for batch in _batches(read_events(stream, name, warn), batch_size):
            try:
                row = conn.execute(INGEST_SQL, ("[" + ",".join(batch) + "]", into, source)).fetchone()
            except psycopg.Error as exc:
                raise from_psycopg(exc) from exc
            result = {"batch_id": str(row[0]), **dict(zip(COUNTS, (int(v) for v in row[1:])))}
            batches.append(result)
            for key in COUNTS:
                totals[key] += result[key]
    return {"into": into, "source": source, **totals, "batches": batches}


@click.group()
def cdc():
    """Change events (Debezium-shaped CDC) applied to an area's source schema.

    \b
    Example:
        dwh cdc ingest events.jsonl --into sales_src
    """


@cdc.command("ingest")
@click.argument("file", metavar="FILE|-")
@click.option("--into", "into", required=True, metavar="SCHEMA",
              help="The warehouse schema mirroring the source (e.g. sales_src); source.table names its table.")
@click.option("--source", "source", metavar="NAME", help="Who delivered the events (default: the file name, or stdin).")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Events per call (one transaction each).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def cdc_ingest(ctx, file: str, into: str, source: str | None, batch_size: int, as_json: bool):
    """Land change events (a JSON array or JSON Lines, from FILE or - for stdin) and apply them.

    Events are Debezium envelopes ({"schema", "payload"}) or bare payloads ({"op", "before", "after",
    "source": {"table", "lsn", "ts_ms"}}). Per key, the newest change by LSN is applied; duplicates and
    older changes are recorded but not applied; bad events are quarantined (dwh quarantine list). The
    next `dwh run daily` carries the changes to silver and gold.

    \b
    Example:
        dwh cdc ingest changes.jsonl --into sales_src
        kcat -C -t shop.public.customers -e | dwh cdc ingest - --into sales_src --json
    """
    from .cli import conninfo, emit_json, err

    if file != "-" and not Path(file).is_file():
        raise click.BadParameter(f"{file!r} is not a file", param_hint="FILE")
    name = "stdin" if file == "-" else os.path.basename(file)
    with click.open_file(file, "rb") as stream:  # "-": stdin, left open
        result = ingest(conninfo(ctx), stream, into, source or name, batch_size, name=name, on_notice=err, warn=err)
    if as_json:
        emit_json(result)
        return
    click.echo(f"{result['events']} event(s) into {into} in {len(result['batches'])} batch(es): "
               f"{result['applied']} applied, {result['stale']} stale, {result['duplicate']} duplicate, "
               f"{result['quarantined']} quarantined")
    if result["quarantined"]:
        click.echo("quarantined events: dwh quarantine list (source dwh_etl.ingest_cdc_events)")
