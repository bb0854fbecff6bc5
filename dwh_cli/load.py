"""``dwh load TABLE FILE|-``: land a CSV, TSV or JSON Lines file (gzip too) in a bronze table.

The bookkeeping is SQL (procedures/dwh_etl/file_*.sql); this module only streams bytes:

1. ``CALL dwh_etl.file_begin`` validates the table, records the load, sets the batch and source, locks the
   table against other writers and creates the load's landing table ``bronze.t_landing``: the file's
   columns and ``_bronze_id`` (consecutive ids from a block reserved for the load: each row's line is
   known without storing it per row), no index (migration 0027).
2. The fast path: ``COPY bronze.t_landing (file's columns) FROM STDIN (FORMAT csv, ENCODING ...)`` fed with the
   file's bytes in chunks, as read (constant memory), while the sha256 and the size are computed.
   PostgreSQL 15's COPY has no ON_ERROR: when it fails on the data (a wrong field count, bytes invalid in
   the encoding, a NUL byte; SQLSTATE class 22), or when its rows are not one per line (quoted newlines:
   lines would not follow from ids), it is rolled back to a savepoint and
3. the parsing path redoes the file: Python's csv module (or json for JSON Lines) reads each record with
   its line number; good rows are COPYed with ``_source_line`` (into the landing table, recreated with that
   column by ``dwh_etl.sec_file_landing``), bad lines go to ``dwh_etl.file_reject``
   (quarantined with line and reason) in batches.
4. ``CALL dwh_etl.file_end`` refuses content already loaded into the table (DW030: everything is rolled
   back and the attempt is recorded as skipped), seals the landing table into ``bronze.t_f<file id>``, an
   inheritance child of ``bronze.t`` (one BRIN index; its rows are read with the table's from the
   commit on), marks the load loaded and logs the ingestion.

stdin is spooled to a temporary file while the fast path reads it, so the parsing path can read it again.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import os
import re
import sys
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator

import psycopg
from psycopg import sql

from . import interrupt
from .config import connect
from .errors import DwhError, from_psycopg

CHUNK = 256 * 1024
REJECT_BATCH = 2000  # bad lines sent to dwh_etl.file_reject at a time
RAW_LIMIT = 10000  # characters of a rejected line kept in the quarantine
# Longest CSV record of the parsing path (Python's default is 128 kB; COPY's limit is 1 GB). It also bounds
# the memory an unterminated quote can take: the record is rejected there and parsing goes on.
FIELD_LIMIT = 64 * 1024 * 1024
FORMATS = ("csv", "tsv", "jsonl")
EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
GZIP_MAGIC = b"\x1f\x8b"
BOM = codecs.BOM_UTF8

# Python codec name -> PostgreSQL encoding, for COPY's ENCODING option (the server converts). Other codecs
# Python knows still load, through the parsing path (Python decodes, the connection sends UTF-8).
PG_ENCODINGS = {
    "utf-8": "UTF8", "utf-8-sig": "UTF8", "iso8859-1": "LATIN1", "latin-1": "LATIN1", "iso8859-2": "LATIN2",
    "iso8859-3": "LATIN3", "iso8859-4": "LATIN4", "iso8859-9": "LATIN5", "iso8859-10": "LATIN6",
    "iso8859-13": "LATIN7", "iso8859-14": "LATIN8", "iso8859-15": "LATIN9", "iso8859-16": "LATIN10",
    "iso8859-5": "ISO_8859_5", "iso8859-6": "ISO_8859_6", "iso8859-7": "ISO_8859_7", "iso8859-8": "ISO_8859_8",
    "cp1250": "WIN1250", "cp1251": "WIN1251", "cp1252": "WIN1252", "cp1253": "WIN1253", "cp1254": "WIN1254",
    "cp1255": "WIN1255", "cp1256": "WIN1256", "cp1257": "WIN1257", "cp1258": "WIN1258", "cp866": "WIN866",
    "cp874": "WIN874", "koi8-r": "KOI8R", "koi8-u": "KOI8U", "euc_jp": "EUC_JP", "euc_kr": "EUC_KR",
    "gbk": "GBK", "gb18030": "GB18030", "big5": "BIG5", "shift_jis": "SJIS",
}
_SURROGATE = re.compile("[\udc80-\udcff]")
# data errors of COPY that the parsing path handles line by line (class 22: bad field count, encoding, NUL)
FALLBACK_SQLSTATE_CLASS = "22"


@dataclass
class LoadOptions:
    table: str
    path: str  # a file name, or "-" for stdin
    fmt: str | None = None
    encoding: str = "utf-8"
    delimiter: str | None = None
    header: bool = True
    maps: dict[str, str] = field(default_factory=dict)  # file column (lowercase) -> table column
    ignore: set[str] = field(default_factory=set)  # file columns (lowercase) not loaded
    force: bool = False
    source: str | None = None


@dataclass
class LoadResult:
    status: str  # loaded | skipped
    table: str
    file: str
    file_id: int | None = None
    batch_id: str | None = None
    format: str = "csv"
    rows_landed: int = 0
    rows_rejected: int = 0
    bytes: int = 0
    sha256: str | None = None
    path: str = "copy"  # copy (straight into bronze) | parsed (line by line)
    seconds: float = 0.0
    message: str | None = None
    columns_missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


class Progress:
    """A progress line on stderr (rows, MB, MB/s), redrawn at most 5 times a second."""

    def __init__(self, enabled: bool, total: int | None = None, stream=None):
        self.enabled = enabled
        self.total = total
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.last = 0.0
        self.shown = False

    def update(self, rows: int, nbytes: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        secs = max(now - self.start, 1e-6)
        mb = nbytes / 1e6
        pct = f" {100 * nbytes / self.total:5.1f}%" if self.total else ""
        self.stream.write(f"\r{rows:>12,} rows {mb:10.1f} MB {mb / secs:8.1f} MB/s{pct}")
        self.stream.flush()
        self.shown = True

    def restart(self, label: str) -> None:
        if self.enabled:
            self.finish()
            self.stream.write(f"{label}\n")
            self.start = time.monotonic()

    def finish(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False


# -- input ------------------------------------------------------------------------------------------
class _Hashing(io.RawIOBase):
    """Reads a binary stream, hashing and counting the bytes; optionally copies them to a spool."""

    def __init__(self, stream, spool=None):
        self.stream = stream
        self.spool = spool
        self.sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        data = self.stream.read(len(buf))
        if not data:
            return 0
        n = len(data)
        buf[:n] = data
        self.sha.update(data)
        self.size += n
        if self.spool is not None:
            self.spool.write(data)
        return n


class _Replay(io.RawIOBase):
    """stdin read a second time: what the first pass spooled, then the rest of stdin (spooled too)."""

    def __init__(self, spool, stdin):
        self.spool = spool
        self.stdin = stdin
        self.spool.flush()
        self.end = self.spool.tell()
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.pos < self.end:
            self.spool.seek(self.pos)
            data = self.spool.read(min(len(buf), self.end - self.pos))
            self.pos += len(data)
            self.spool.seek(0, io.SEEK_END)
        else:
            data = self.stdin.read(len(buf))
            if data:
                self.spool.write(data)
                self.end += len(data)
                self.pos = self.end
        n = len(data)
        buf[:n] = data
        return n


class Input:
    """The bytes of FILE or stdin. Each pass() reads them from the start (hashing them again); a pass
    over stdin replays what earlier passes read, then continues."""

    def __init__(self, path: str, stdin=None):
        self.path = path
        self.is_stdin = path == "-"
        self.stdin = stdin if stdin is not None else sys.stdin.buffer
        self.spool = tempfile.TemporaryFile(prefix="dwh-load-") if self.is_stdin else None
        self.passes = 0
        self.name = "stdin" if self.is_stdin else os.path.basename(path)
        self.total = None if self.is_stdin else os.path.getsize(path)
        self._raw: _Hashing | None = None
        self._files: list = []

    def open_pass(self) -> tuple[io.BufferedIOBase, bool]:
        """A fresh decompressed binary stream of the whole input, and whether it was gzip."""
        if self.is_stdin:
            base = self.stdin if self.passes == 0 else _Replay(self.spool, self.stdin)
            raw = _Hashing(base, self.spool if self.passes == 0 else None)
        else:
            f = open(self.path, "rb")
            self._files.append(f)
            raw = _Hashing(f)
        self.passes += 1
        self._raw = raw
        buffered = io.BufferedReader(raw, CHUNK)
        is_gzip = buffered.peek(2)[:2] == GZIP_MAGIC  # by content: a .gz name that is not gzip is read as is
        if is_gzip:
            return io.BufferedReader(gzip.GzipFile(fileobj=buffered, mode="rb"), CHUNK), True
        return buffered, False

    def drain(self, stream) -> None:
        """Read what a pass left unread, so size and hash cover the whole input."""
        while stream.read(CHUNK):
            pass

    @property
    def size(self) -> int:
        return self._raw.size if self._raw else 0

    @property
    def sha256(self) -> str:
        return self._raw.sha.hexdigest() if self._raw else hashlib.sha256().hexdigest()

    def close(self) -> None:
        for f in self._files:
            f.close()
        if self.spool is not None:
            self.spool.close()


def infer_format(path: str, fmt: str | None) -> str:
    if fmt:
        return fmt
    if path == "-":
        return "csv"
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    ext = os.path.splitext(name)[1]
    if ext not in EXTENSIONS:
        raise DwhError(f"cannot tell the format of {path} from its extension",
                       hint="use --format csv|tsv|jsonl")
    return EXTENSIONS[ext]


def codec_of(encoding: str) -> codecs.CodecInfo:
    try:
        return codecs.lookup(encoding)
    except LookupError:
        raise DwhError(f"unknown encoding {encoding!r}",
                       hint="e.g. utf-8, latin1, cp1252 (Python codec names)") from None


class _Utf8Probe:
    """Whether bytes declared in another encoding read as UTF-8 with non-ASCII characters (a UTF-8 file
    declared --encoding latin1 lands garbled, 'FranÃ§ois', without any error)."""

    def __init__(self, enabled: bool):
        self.valid = enabled
        self.non_ascii = False
        self.dec = codecs.getincrementaldecoder("utf-8")()

    def feed(self, data: bytes) -> None:
        if not self.valid:
            return
        if not self.non_ascii and not data.isascii():
            self.non_ascii = True
        try:
            self.dec.decode(data)
        except UnicodeDecodeError:
            self.valid = False

    def looks_utf8(self) -> bool:
        if not (self.valid and self.non_ascii):
            return False
        try:
            self.dec.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
        return True


# -- the header -------------------------------------------------------------------------------------
def map_header(names: list[str], columns: list[str], opts: LoadOptions, table: str) -> list[str | None]:
    """The table column of each file column (None: ignored). Unknown names are an error."""
    known = set(columns)
    out: list[str | None] = []
    unknown = []
    for name in names:
        key = name.strip().lower()
        if key in opts.ignore:
            out.append(None)
            continue
        col = opts.maps.get(key, key)
        if col not in known or col == "_raw_payload":
            unknown.append(name)
        out.append(col)
    if unknown:
        raise DwhError(
            f"{', '.join(repr(u) for u in unknown)}: not a column of {table}",
            detail=f"columns of {table}: {', '.join(c for c in columns if c != '_raw_payload')}",
            hint="map it with --map FILECOL=COLUMN, or skip it with --ignore-column FILECOL")
    seen: dict[str, str] = {}
    for name, col in zip(names, out):
        if col is None:
            continue
        if col in seen:
            raise DwhError(f"file columns {seen[col]!r} and {name!r} both load into {table}.{col}",
                           hint="drop one with --ignore-column")
        seen[col] = name
    return out


# -- the load ---------------------------------------------------------------------------------------
class _Fallback(Exception):
    """The fast path cannot land this file as it is: redo it on the parsing path."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Loader:
    def __init__(self, conn: psycopg.Connection, opts: LoadOptions, inp: Input, progress: Progress,
                 log: Callable[[str], None]):
        self.conn = conn
        self.opts = opts
        self.inp = inp
        self.progress = progress
        self.log = log
        self.fmt = infer_format(opts.path, opts.fmt)
        if self.fmt not in FORMATS:
            raise DwhError(f"unknown format {self.fmt!r}", hint="csv, tsv or jsonl")
        self.codec = codec_of(opts.encoding)
        if "\n".encode(self.codec.name, errors="replace") != b"\n" or ",\t".encode(self.codec.name, errors="replace") != b",\t":
            # lines are split on the byte 0x0a: in UTF-16/32 (or EBCDIC) that byte is not the newline, and rows
            # would be cut mid-character and land garbled
            raise DwhError(f"--encoding {opts.encoding}: not supported (its newline or delimiters are not single "
                           f"ASCII bytes)", hint=f"convert the file first: iconv -f {opts.encoding} -t utf-8 FILE")
        self.delimiter = opts.delimiter or ("\t" if self.fmt == "tsv" else ",")
        if len(self.delimiter) != 1 or self.delimiter in "\r\n\"":
            raise DwhError(f"--delimiter must be one character other than a quote or newline, not {self.delimiter!r}")
        row = conn.execute("SELECT target, columns FROM dwh_etl.file_target_columns(%s)", (opts.table,)).fetchone()
        self.table: str = row[0]
        self.columns: list[str] = list(row[1])
        self.data_columns = [c for c in self.columns if c != "_raw_payload"]
        self.has_raw = "_raw_payload" in self.columns
        self.file_id: int | None = None
        self.landing: tuple[str, str] | None = None  # (schema, name) of the load's landing table
        self.rows = 0
        self.rejected = 0
        self.path = "copy"
        self.file_columns: list[str | None] = []
        self.missing: list[str] = []
        self.probe = _Utf8Probe(False)

    def new_probe(self) -> None:
        self.probe = _Utf8Probe(not self.utf8 and self.codec.name != "ascii")

    def encoding_warning(self) -> str | None:
        if not self.probe.looks_utf8():
            return None
        return (f"warning: {self.inp.name} is declared {self.opts.encoding} but its bytes are valid UTF-8 with "
                f"non-ASCII characters: if it is UTF-8, its accented characters landed garbled; load it again "
                f"with --encoding utf-8 --force")

    @property
    def utf8(self) -> bool:
        return self.codec.name in ("utf-8", "utf-8-sig")

    def ident(self) -> sql.Composable:
        """The table the COPY writes: the load's landing table (see file_begin)."""
        assert self.landing is not None
        return sql.Identifier(*self.landing)

    def _landing(self, lines_in_rows: bool = False) -> None:
        """Learn the landing table file_begin created; with lines_in_rows, recreate it with _source_line
        (the parsing path)."""
        if lines_in_rows:
            self.conn.execute("SELECT dwh_etl.sec_file_landing(%s, true)", (self.file_id,))
        row = self.conn.execute(
            "SELECT n.nspname, c.relname FROM dwh_etl.loaded_files AS f "
            "JOIN pg_catalog.pg_class AS c ON c.oid = to_regclass(f.landed_in) "
            "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace WHERE f.file_id = %s",
            (self.file_id,)).fetchone()
        if row is None:
            raise DwhError(f"file load {self.file_id} has no landing table",
                           hint="dwh migrate (migration 0027 and dwh_etl.file_begin)")
        self.landing = (row[0], row[1])

    # header of a pass: the file's columns, mapped
    def read_header(self, stream) -> None:
        first = stream.readline()
        if self.utf8 and first.startswith(BOM):
            first = first[len(BOM):]
        if not self.opts.header:
            return
        if not first:
            self.file_columns = []  # an empty file
            return
        if not first.strip():
            raise DwhError(f"line 1 of {self.inp.name}, its header, is blank",
                           hint="--no-header when the file has no header line")
        try:
            text = first.decode(self.codec.name)
        except UnicodeDecodeError as exc:
            raise DwhError(f"the header line of {self.inp.name} is not valid {self.opts.encoding}: {exc.reason}",
                           hint="--encoding names the file's encoding") from None
        try:
            names = next(csv.reader([text], delimiter=self.delimiter, strict=True), [])
        except csv.Error as exc:
            cr = "\r" in text.rstrip("\r\n")
            raise DwhError(f"the header line of {self.inp.name} is not valid CSV ({exc})",
                           hint="the file's lines end with a bare CR (classic Mac): convert them to LF "
                                "(tr '\\r' '\\n')" if cr else "a header name may not span lines") from None
        self.file_columns = map_header(names, self.columns, self.opts, self.table)
        loaded = {c for c in self.file_columns if c}
        self.missing = [c for c in self.data_columns if c not in loaded]

    def begin(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute("CALL dwh_etl.file_begin(p_target => %s, p_file_name => %s, p_source => %s, p_format => %s, "
                        "p_header => %s, p_force => %s, p_file_id => NULL)",
                        (self.table, self.inp.name, self.opts.source, self.fmt, self.opts.header and self.fmt != "jsonl",
                         self.opts.force))
            self.file_id = cur.fetchone()[0]
        self._landing()

    def end(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute("CALL dwh_etl.file_end(p_file_id => %s, p_rows => %s, p_size => %s, p_sha256 => %s, "
                        "p_lines_in_rows => %s, p_status => NULL)",
                        (self.file_id, self.rows, self.inp.size, self.inp.sha256, self.path == "parsed"))

    # -- fast path: the bytes, as they are, into COPY
    def fast(self) -> None:
        self.new_probe()
        stream, _gz = self.inp.open_pass()
        if self.opts.header:
            self.read_header(stream)
        cols = self.file_columns if self.opts.header else self.data_columns
        if self.opts.header and not cols:  # an empty file: nothing to land
            self.inp.drain(stream)
            self.rows = 0
            return
        if any(c is None for c in cols):
            raise _Fallback("ignored columns")
        encoding = PG_ENCODINGS.get(self.codec.name)
        if encoding is None:
            raise _Fallback(f"encoding {self.codec.name} is decoded in Python")
        copy = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, DELIMITER {}, ENCODING {})").format(
            self.ident(), sql.SQL(", ").join(sql.Identifier(c) for c in cols),
            sql.Literal(self.delimiter), sql.Literal(encoding))
        newlines = 0
        last = b"\n"
        nbytes = 0
        first = not self.opts.header
        with self.conn.cursor() as cur:
            with cur.copy(copy) as cp:
                while True:
                    chunk = stream.read(CHUNK)
                    if not chunk:
                        break
                    if first:
                        first = False
                        if self.utf8 and chunk.startswith(BOM):
                            chunk = chunk[len(BOM):]
                    interrupt.check()  # Ctrl-C: leave the copy (psycopg ends it with CopyFail)
                    cp.write(chunk)
                    self.probe.feed(chunk)
                    newlines += chunk.count(b"\n")
                    last = chunk[-1:] or last
                    nbytes += len(chunk)
                    self.progress.update(newlines, self.inp.size)
            self.rows = cur.rowcount
        lines = newlines + (0 if last == b"\n" else 1)
        if lines != self.rows:
            # a quoted field spanning lines (or a blank line): rows do not map to lines one to one
            raise _Fallback(f"{self.rows} rows on {lines} lines")

    # -- parsing path
    def _lines(self, stream) -> Iterator[tuple[int, bytes]]:
        for n, line in enumerate(stream, start=1):
            if n == 1 and self.utf8 and line.startswith(BOM):
                line = line[len(BOM):]
            self.probe.feed(line)
            yield n, line

    def _raw_text(self, raw: bytes) -> str:
        text = raw.decode(self.codec.name, errors="backslashreplace").replace("\x00", "\\x00")
        text = text.rstrip("\r\n")
        return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + f"… ({len(text)} characters)"

    def _encoding_reason(self, raw: bytes) -> str:
        try:
            raw.decode(self.codec.name)
        except UnicodeDecodeError as exc:
            bad = raw[exc.start:exc.end]
            return f"bytes {bad.hex(' ')} at byte {exc.start + 1} are not valid {self.opts.encoding}"
        return f"is not valid {self.opts.encoding}"

    def _csv_records(self, stream) -> Iterator[tuple]:
        """('row', line, values) or ('bad', line, reason, raw) for each record after the header."""
        lines = self._lines(stream)
        buf: list[tuple[int, bytes]] = []
        name = self.codec.name

        def feed():
            for n, raw in lines:
                buf.append((n, raw))
                yield raw.decode(name, errors="surrogateescape")

        if self.opts.header and next(lines, None) is None:  # skip the header line
            return
        feeder = feed()
        csv.field_size_limit(FIELD_LIMIT)
        reader = csv.reader(feeder, delimiter=self.delimiter, strict=True)
        ncols = len(self.file_columns) if self.opts.header else len(self.data_columns)
        keep = [i for i, c in enumerate(self.file_columns) if c is not None] if self.opts.header else None
        while True:
            buf.clear()
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if not buf:
                    return
                raw = b"".join(r for _, r in buf)
                yield ("bad", buf[0][0], f"is not valid CSV ({exc})", self._raw_text(raw))
                continue
            if not buf:
                return
            line = buf[0][0]
            raw = b"".join(r for _, r in buf)
            if not fields or (len(fields) == 1 and fields[0] == "" and ncols > 1 and not raw.strip()):
                continue  # a blank line
            if len(fields) != ncols:
                yield ("bad", line, f"has {len(fields)} field{'s' if len(fields) != 1 else ''}, expected {ncols}",
                       self._raw_text(raw))
                continue
            if b"\x00" in raw:
                yield ("bad", line, "contains a NUL byte (0x00), which a text column cannot hold", self._raw_text(raw))
                continue
            if any(_SURROGATE.search(f) for f in fields):
                yield ("bad", line, self._encoding_reason(raw), self._raw_text(raw))
                continue
            values = [f if f != "" else None for f in fields]
            if keep is not None and len(keep) != len(values):
                values = [values[i] for i in keep]
            yield ("row", line, values)

    def _jsonl_records(self, stream) -> Iterator[tuple]:
        known = set(self.data_columns)
        for line, raw in self._lines(stream):
            if not raw.strip():
                continue
            if b"\x00" in raw:
                yield ("bad", line, "contains a NUL byte (0x00), which a text column cannot hold", self._raw_text(raw))
                continue
            try:
                text = raw.decode(self.codec.name)
            except UnicodeDecodeError:
                yield ("bad", line, self._encoding_reason(raw), self._raw_text(raw))
                continue
            try:
                obj = _JSON.decode(text)
            except _DuplicateKey as exc:
                yield ("bad", line, f"names key {exc.key!r} more than once", self._raw_text(raw))
                continue
            except ValueError as exc:
                msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                yield ("bad", line, f"is not JSON ({msg})", self._raw_text(raw))
                continue
            if not isinstance(obj, dict):
                kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
                    type(obj), "a number")
                yield ("bad", line, f"is {kind}, not a JSON object", self._raw_text(raw))
                continue
            row: dict[str, str | None] = {}
            unknown = []
            twice = None
            for key, value in obj.items():
                k = key.strip().lower()
                if k in self.opts.ignore:
                    continue
                col = self.opts.maps.get(k, k)
                if col not in known:
                    unknown.append(key)
                    continue
                if col in row and twice is None:
                    twice = (key, col)
                row[col] = _json_text(value)
            if twice is not None:  # "City" and "city": which one the sender meant is unknown
                yield ("bad", line, f"names column {twice[1]} more than once (key {twice[0]!r})", self._raw_text(raw))
                continue
            if unknown and not self.has_raw:
                raise DwhError(f"{self.inp.name} line {line}: key {', '.join(repr(u) for u in unknown)} is not a column "
                               f"of {self.table}",
                               detail=f"columns of {self.table}: {', '.join(self.data_columns)}",
                               hint="map it with --map KEY=COLUMN, or skip it with --ignore-column KEY")
            if not row:
                yield ("bad", line, f"has none of the columns of {self.table}", self._raw_text(raw))
                continue
            if any(v is not None and "\x00" in v for v in row.values()):
                yield ("bad", line, "contains a NUL character (\\u0000), which a text column cannot hold",
                       self._raw_text(raw))
                continue
            values = [row.get(c) for c in self.data_columns]
            if self.has_raw:
                values.append(text.strip())
            yield ("row", line, values)

    def parsed(self) -> None:
        self.path = "parsed"
        self.rows = 0
        self.rejected = 0
        self.new_probe()
        self._landing(lines_in_rows=True)
        stream, _gz = self.inp.open_pass()
        if self.fmt == "jsonl":
            cols = self.data_columns + (["_raw_payload"] if self.has_raw else [])
            records = self._jsonl_records(stream)
        else:
            cols = [c for c in self.file_columns if c is not None] if self.opts.header else self.data_columns
            records = self._csv_records(stream)
            if self.opts.header and not self.file_columns:
                self.inp.drain(stream)
                return
        copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
            self.ident(), sql.SQL(", ").join(sql.Identifier(c) for c in [*cols, "_source_line"]))
        bad: list[tuple[int, str, str]] = []
        done = False
        with self.conn.cursor() as cur:
            while not done:
                done = True
                with cur.copy(copy) as cp:
                    for rec in records:
                        if rec[0] == "row":
                            cp.write_row([*rec[2], rec[1]])
                            self.rows += 1
                            if self.rows % 4096 == 0:
                                interrupt.check()
                                self.progress.update(self.rows, self.inp.size)
                        else:
                            bad.append((rec[1], rec[2], rec[3]))
                            if len(bad) >= REJECT_BATCH:
                                done = False
                                break
                self._reject(cur, bad)
                bad = []
        self.inp.drain(stream)

    def _reject(self, cur, bad: list[tuple[int, str, str]]) -> None:
        if not bad:
            return
        cur.execute("SELECT dwh_etl.file_reject(%s, %s, %s, %s)",
                    (self.file_id, [b[0] for b in bad], [b[1] for b in bad], [b[2] for b in bad]))
        self.rejected += len(bad)


class _Number(str):
    """A JSON number as written in the file (never through a float: 12.3400000000000000001 stays that)."""


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def _no_duplicates(pairs: list) -> dict:
    obj: dict = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


def _not_json(name: str):
    raise ValueError(f"{name} is not a JSON number")


# JSON Lines: numbers kept as written, NaN / Infinity refused (not JSON), a key twice in an object refused
_JSON = json.JSONDecoder(parse_float=_Number, parse_int=_Number, parse_constant=_not_json,
                         object_pairs_hook=_no_duplicates)


def _json_dump(value) -> str:
    """JSON text of a parsed value, numbers as written."""
    if isinstance(value, _Number):
        return str.__str__(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {_json_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json_dump(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _json_text(value) -> str | None:
    """A JSON value as the text bronze keeps (as jsonb ->> gives it; numbers as written)."""
    if value is None:
        return None
    if isinstance(value, _Number):
        return str.__str__(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return _json_dump(value)


def load_file(conninfo: str, opts: LoadOptions, *, progress: bool = False, log: Callable[[str], None] = lambda m: None,
              stdin=None) -> LoadResult:
    """Land one file in a bronze table (see the module docstring). Raises DwhError on failure, after
    recording the failed attempt in dwh_etl.loaded_files."""
    started = time.monotonic()
    inp = Input(opts.path, stdin=stdin)
    conn = connect(conninfo, autocommit=False)
    loader: Loader | None = None
    bar = Progress(progress, inp.total)
    try:
        try:
            loader = Loader(conn, opts, inp, bar, log)
            if loader.fmt == "jsonl":
                loader.begin()
                loader.parsed()
            else:
                loader.begin()
                conn.execute("SAVEPOINT dwh_load_fast")
                try:
                    loader.fast()
                except _Fallback as fb:
                    conn.execute("ROLLBACK TO SAVEPOINT dwh_load_fast")
                    bar.restart(f"{inp.name}: {fb.reason}: parsing it line by line")
                    loader.parsed()
                except psycopg.Error as exc:
                    if not (exc.sqlstate or "").startswith(FALLBACK_SQLSTATE_CLASS):
                        raise
                    conn.execute("ROLLBACK TO SAVEPOINT dwh_load_fast")
                    reason = exc.diag.message_primary or str(exc)
                    bar.restart(f"{inp.name}: COPY refused it ({reason}): parsing it line by line")
                    loader.parsed()
            bar.update(loader.rows, inp.size, force=True)
            bar.finish()
            loader.end()
            conn.commit()
        except psycopg.Error as exc:
            bar.finish()
            if not conn.broken:
                conn.rollback()
            if exc.sqlstate == "DW030" and loader is not None:
                _record(conn, loader, inp, "skipped", exc.diag.message_primary)
                return LoadResult(status="skipped", table=loader.table, file=inp.name, format=loader.fmt,
                                  bytes=inp.size, sha256=inp.sha256, seconds=time.monotonic() - started,
                                  message=f"{exc.diag.message_primary} (--force loads it again)")
            err = from_psycopg(exc)
            if conn.broken:
                # the server ended the session (pg_terminate_backend, a shutdown, a crash): say what it
                # said, when it said something, and record the attempt on a connection of its own
                said = _server_said(conn)
                if said:
                    err.message = f"{err.message}: {said}"
                conn = _record_conn(conninfo, conn)
            _record(conn, loader, inp, "failed", err.message, opts)
            raise err from None
        except (DwhError, OSError, EOFError, gzip.BadGzipFile, zlib.error, KeyboardInterrupt) as exc:
            bar.finish()
            try:
                conn.rollback()
            except psycopg.Error:
                pass
            message = "interrupted" if isinstance(exc, KeyboardInterrupt) else (
                exc.message if isinstance(exc, DwhError) else f"{inp.name}: {exc}")
            if conn.broken and not isinstance(exc, KeyboardInterrupt):
                conn = _record_conn(conninfo, conn)
            _record(conn, loader, inp, "failed", message, opts)
            if isinstance(exc, zlib.error):
                raise DwhError(f"cannot read {inp.name}: its gzip data is damaged ({exc})",
                               hint="nothing was loaded; fetch the file again (gzip -t FILE checks it)") from None
            if isinstance(exc, (OSError, EOFError)) and not isinstance(exc, DwhError):
                raise DwhError(f"cannot read {inp.name}: {exc}") from None
            raise
        assert loader is not None
        warning = loader.encoding_warning()
        if warning:
            log(warning)
        return LoadResult(status="loaded", table=loader.table, file=inp.name, file_id=loader.file_id,
                          batch_id=conn.execute("SELECT batch_id::text FROM dwh_etl.loaded_files WHERE file_id = %s",
                                                (loader.file_id,)).fetchone()[0],
                          format=loader.fmt, rows_landed=loader.rows, rows_rejected=loader.rejected,
                          bytes=inp.size, sha256=inp.sha256, path=loader.path,
                          seconds=time.monotonic() - started, columns_missing=loader.missing,
                          warnings=[warning] if warning else [])
    finally:
        try:
            if not (conn.closed or conn.broken):
                conn.rollback()
        finally:
            conn.close()
            inp.close()


def _server_said(conn) -> str:
    """The last message libpq kept from the server of a lost connection (e.g. 'terminating connection due to
    administrator command'), or ''."""
    try:
        raw = conn.pgconn.error_message or b""
    except Exception:  # noqa: BLE001 - best effort
        return ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("FATAL:"):
            return line.split(":", 1)[1].strip()
    return ""


def _record_conn(conninfo: str, lost):
    """A new connection to record a failed attempt whose own connection was lost (the old one is closed);
    the lost one when no server answers (the record is then skipped, best effort)."""
    try:
        lost.close()
    except psycopg.Error:
        pass
    try:
        return connect(conninfo, autocommit=False)
    except (DwhError, psycopg.Error):
        return lost


def _record(conn, loader: Loader | None, inp: Input, status: str, message: str | None,
            opts: LoadOptions | None = None) -> None:
    """Record an attempt that landed nothing (best effort: the connection may be gone)."""
    if interrupt.requested() and status == "failed":
        message = "interrupted"
    try:
        table = loader.table if loader else (opts.table if opts else None)
        fmt = loader.fmt if loader else None
        conn.execute("SELECT dwh_etl.file_record(p_target => %s, p_file_name => %s, p_status => %s, p_error => %s, "
                     "p_source => %s, p_format => %s, p_size => %s, p_sha256 => %s)",
                     (table, inp.name, status, message, (loader.opts.source if loader else None), fmt or "csv",
                      inp.size or None, inp.sha256 if inp.size else None))
        conn.commit()
    except psycopg.Error:
        try:
            conn.rollback()
        except psycopg.Error:
            pass


def parse_maps(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        src, sep, dst = pair.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise ValueError(f"--map {pair!r}: expected FILECOL=COLUMN")
        out[src.strip().lower()] = dst.strip().lower()
    return out


# -- the command (registered in cli.py) ---------------------------------------------------------------
import click  # noqa: E402


@click.command("load")
@click.argument("table_name", metavar="TABLE")
@click.argument("file", metavar="FILE|-")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="File format (default: from the extension, "
              ".csv .tsv .tab .jsonl .ndjson .json, with or without .gz; csv for stdin).")
@click.option("--encoding", default="utf-8", show_default=True, help="Encoding of the file (a UTF-8 BOM is "
              "skipped), e.g. latin1, cp1252; converted by the server.")
@click.option("--delimiter", metavar="CHAR", help="Field delimiter (default: ',' for csv, tab for tsv).")
@click.option("--no-header", is_flag=True, help="The file has no header line: its fields are the table's "
              "columns in order.")
@click.option("--map", "maps", multiple=True, metavar="FILECOL=COLUMN", help="Load file column (or JSON key) "
              "FILECOL into COLUMN (repeatable).")
@click.option("--ignore-column", "ignore", multiple=True, metavar="FILECOL", help="Do not load this file "
              "column or JSON key (repeatable).")
@click.option("--force", is_flag=True, help="Load the file even if the same content was already loaded into TABLE.")
@click.option("--source", metavar="LABEL", help="Source label of the rows (_source; default file:NAME).")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr: rows and MB/s "
              "(default: when stderr is a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def load(ctx, table_name: str, file: str, fmt, encoding, delimiter, no_header, maps, ignore, force, source,
         progress, as_json):
    """Land a CSV, TSV or JSON Lines FILE (gzip too; - reads stdin) in the bronze table TABLE.

    Values land as text; the silver steps type them and quarantine bad values with the file's line
    (dwh run daily, then dwh quarantine list). Lines that cannot be landed at all (wrong field count,
    bytes invalid in the encoding, a NUL byte, a JSON line that is not an object) are quarantined with
    their line number; the rest loads. The same content loaded again into TABLE is skipped (exit 0)
    unless --force.

    \b
    Example:
        dwh load bronze.sales_sales sales-2025-01.csv
        zcat export.csv.gz | dwh load bronze.sales_customers - --map cust_no=customer_id
        dwh load bronze.sales_products products.tsv --encoding latin1
    """
    from .cli import conninfo, emit_json, err

    try:
        mapping = parse_maps(maps)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--map") from None
    if file != "-" and not os.path.exists(file):
        raise click.BadParameter(f"{file}: no such file", param_hint="FILE")
    opts = LoadOptions(table=table_name, path=file, fmt=fmt, encoding=encoding, delimiter=delimiter,
                       header=not no_header, maps=mapping, ignore={i.strip().lower() for i in ignore},
                       force=force, source=source)
    show = sys.stderr.isatty() if progress is None else progress
    res = load_file(conninfo(ctx), opts, progress=show, log=err)
    if as_json:
        emit_json(res.as_dict())
        return
    if res.status == "skipped":
        click.echo(f"skipped: {res.message}")
        return
    from .output import duration

    rate = res.bytes / 1e6 / res.seconds if res.seconds > 0 else 0.0
    click.echo(f"loaded {res.rows_landed:,} rows into {res.table} from {res.file} (file {res.file_id}, "
               f"{res.bytes / 1e6:.1f} MB in {duration(res.seconds)}, {rate:.1f} MB/s)")
    if res.rows_rejected:
        click.echo(f"{res.rows_rejected:,} lines could not be landed and are quarantined with their line "
                   f"number: dwh quarantine list --table {res.table}")
    if res.columns_missing:
        err(f"note: the file has no column {', '.join(res.columns_missing)} (landed as NULL)")


__all__ = ["LoadOptions", "LoadResult", "load_file", "parse_maps", "infer_format", "load"]
