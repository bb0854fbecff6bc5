"""Output for people (no external dependencies): one style for every command.

- timestamps: UTC, ``2026-12-02 17:03:14Z`` (seconds; the server's clock and pg_cron's are UTC too);
- durations: human units (``350 ms``, ``1.2 s``, ``3 min 4 s``, ``2 h 5 min``, ``3 d 4 h``);
- booleans: ``yes`` / ``no``; NULL: empty;
- tables fit the terminal: the widest text columns are cut (with ``…``) and a note says that ``--wide``
  or ``--json`` shows everything. Width: ``$COLUMNS``, else the terminal's, else (stdout piped to a
  file or a program) unlimited.

``--json`` never goes through this module: machine output keeps the server's values as they are."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import re
import shutil
import sys
from typing import Any, Iterable

CUT_NOTE = "(… cut to fit {width} columns: --wide or --json shows all)"

_state = {"wide": False}


def set_wide(wide: bool) -> None:
    """--wide: never cut a table to the terminal's width."""
    _state["wide"] = bool(wide)


def width_limit() -> int | None:
    """The width tables must fit, or None for no limit (--wide, or stdout is not a terminal)."""
    if _state["wide"]:
        return None
    cols = os.environ.get("COLUMNS", "")
    if cols.isdigit() and int(cols) > 0:
        return int(cols)
    try:
        if not sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    return shutil.get_terminal_size((100, 24)).columns


# -- values ---------------------------------------------------------------------------------------
_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?| UTC)$")
_INTERVAL_RE = re.compile(r"^(?:(-?\d+) years? ?)?(?:(-?\d+) mons? ?)?(?:(-?\d+) days? ?)?"
                          r"(?:(-)?(\d+):(\d{2}):(\d{2}(?:\.\d+)?))?$")


def timestamp(value: dt.datetime) -> str:
    """``2026-12-02 17:03:14Z``: UTC, to the second (a naive value is taken as UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%SZ")


def duration(seconds: float | decimal.Decimal | None) -> str:
    """Human units: ``0 ms``, ``350 ms``, ``1.2 s``, ``42 s``, ``3 min 4 s``, ``2 h 5 min``, ``3 d 4 h``."""
    if seconds is None:
        return ""
    s = float(seconds)
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s < 1:
        return f"{sign}{round(s * 1000)} ms"
    if s < 10:
        return f"{sign}{s:.1f} s"
    if s < 60:
        return f"{sign}{round(s)} s"
    s = round(s)
    if s < 3600:
        m, r = divmod(s, 60)
        return f"{sign}{m} min {r} s" if r else f"{sign}{m} min"
    if s < 86400:
        h, r = divmod(s, 3600)
        m = r // 60
        return f"{sign}{h} h {m} min" if m else f"{sign}{h} h"
    d, r = divmod(s, 86400)
    h = r // 3600
    return f"{sign}{d} d {h} h" if h else f"{sign}{d} d"


def yesno(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def _parse_timestamp(text: str) -> dt.datetime | None:
    if not _TS_RE.match(text):
        return None
    t = text.replace(" UTC", "+00:00").replace("Z", "+00:00")
    if re.search(r"[+-]\d{2}$", t):  # PostgreSQL's '+00' offset
        t += ":00"
    try:
        return dt.datetime.fromisoformat(t)
    except ValueError:
        return None


def _parse_interval(text: str) -> float | None:
    """Seconds of a PostgreSQL interval in its default output style (``1 day 02:03:04.5``), or None."""
    m = _INTERVAL_RE.match(text)
    if not m or not text or not any(m.groups()):
        return None
    years, mons, days, neg, h, mi, sec = m.groups()
    total = (int(years or 0) * 365 + int(mons or 0) * 30 + int(days or 0)) * 86400.0
    if h is not None:
        t = int(h) * 3600 + int(mi) * 60 + float(sec)
        total += -t if neg else t
    return total


def _is_duration_key(key: str | None) -> str | None:
    """'ms' or 's' when a column named ``key`` holds a duration as a number."""
    if not key:
        return None
    if key.endswith("_ms"):
        return "ms"
    if key in ("duration_s", "duration_seconds", "elapsed_s") or key.endswith("_seconds"):
        return "s"
    return None


def cell(value: Any, key: str | None = None) -> str:
    """One value as people read it (``key``, the column's name, tells durations held as numbers)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return yesno(value)
    unit = _is_duration_key(key)
    if unit and isinstance(value, (int, float, decimal.Decimal)):
        return duration(float(value) / 1000 if unit == "ms" else value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, ensure_ascii=False, separators=(", ", ": "))
    if isinstance(value, dt.datetime):
        return timestamp(value)
    if isinstance(value, dt.timedelta):
        return duration(value.total_seconds())
    if isinstance(value, (dt.date, decimal.Decimal)):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        ts = _parse_timestamp(value)
        if ts is not None:
            return timestamp(ts)
        if ":" in value:
            secs = _parse_interval(value)
            if secs is not None:
                return duration(secs)
    return str(value).replace("\r\n", " ").replace("\n", " ")


def _header(key: str) -> str:
    """Column titles: a duration column loses its unit suffix (its values carry their unit)."""
    if _is_duration_key(key):
        for suffix in ("_ms", "_seconds", "_s"):
            if key.endswith(suffix):
                return key[: -len(suffix)] or key
    return key


def _right_aligned(values: list[Any], key: str) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool)
                                 for v in present)


def _fit(widths: list[int], fixed: list[bool], limit: int | None, floors: list[int]) -> list[int]:
    """Shrink the widest text columns, one character at a time, until the line fits ``limit``."""
    widths = list(widths)
    if limit is None:
        return widths
    total = sum(widths) + 2 * (len(widths) - 1)
    while total > limit:
        candidates = [i for i, w in enumerate(widths) if not fixed[i] and w > floors[i]]
        if not candidates:
            break
        i = max(candidates, key=lambda j: widths[j])
        widths[i] -= 1
        total -= 1
    return widths


def _clip(text: str, width: int) -> str:
    """Cut to ``width``: free text at its end, a name (no spaces) in its middle, which keeps what tells
    similar names apart (``devflow_…_entities``)."""
    if len(text) <= width:
        return text
    if width >= 8 and " " not in text.strip():
        head = (width - 1) // 2
        return text[:head] + "…" + text[len(text) - (width - 1 - head):]
    return text[: max(width - 1, 0)] + "…"


def render_table(rows: Iterable[dict], columns: list[str] | None = None,
                 limit: int | None = None) -> tuple[str, bool]:
    """A table and whether a value was cut to fit ``limit`` columns."""
    rows = list(rows)
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
    if not columns:
        return "(no rows)", False
    if limit is not None and rows:
        # a column empty in every row says nothing: left out when the table is too wide for the terminal
        full_width = sum(max([len(_header(c))] + [len(cell(r.get(c), c)) for r in rows]) + 2 for c in columns) - 2
        if full_width > limit:
            kept = [c for c in columns if any(cell(r.get(c), c) for r in rows)]
            columns = kept or columns
    headers = [_header(c) for c in columns]
    body = [[cell(row.get(c), c) for c in columns] for row in rows]
    right = [_right_aligned([row.get(c) for row in rows], c) or bool(_is_duration_key(c)) for c in columns]
    full = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]
    # numbers, durations, dates and timestamps are never cut; text keeps at least 12 characters (or its title)
    fixed = [right[i] or all(len(r[i]) <= 20 and _looks_fixed(r[i]) for r in body) for i in range(len(columns))]
    # first cut free text (values with spaces), keeping names (schema.table, step names) whole; then,
    # if that is not enough, anything down to 12 characters (or its title)
    floors = [min(full[i], max(len(headers[i]), 12 if any(" " in r[i].strip() for r in body) else 16))
              for i in range(len(columns))]
    names = [floors[i] if any(" " in r[i].strip() for r in body) else full[i] for i in range(len(columns))]
    widths = _fit(full, fixed, limit, names)
    widths = _fit(widths, fixed, limit, floors)
    cut = any(w < f for w, f in zip(widths, full))

    def line(values: list[str]) -> str:
        parts = [_clip(v, w).rjust(w) if r else _clip(v, w).ljust(w) for v, w, r in zip(values, widths, right)]
        return "  ".join(parts).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in body]
    if not rows:
        out.append("(no rows)")
    return "\n".join(out), cut


def _looks_fixed(text: str) -> bool:
    return text == "" or bool(re.fullmatch(r"[\d :.\-Z+]+|yes|no", text))


def table(rows: Iterable[dict], columns: list[str] | None = None) -> str:
    """A plain table: header, dashes, one line per row; numbers and durations right-aligned; fits the
    terminal (a last line says when values were cut)."""
    limit = width_limit()
    text, cut = render_table(rows, columns, limit)
    return text + ("\n" + CUT_NOTE.format(width=limit) if cut else "")


def pretty_json(value: Any) -> str:
    """Indented JSON for people (payloads, specs): keys in their order, non-ASCII kept."""
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def record(row: dict) -> str:
    """One row as ``key  value`` lines; JSON values indented below their key."""
    if not row:
        return "(nothing)"
    width = max(len(k) for k in row)
    lines = []
    for key, value in row.items():
        if isinstance(value, list) and value and all(not isinstance(v, (dict, list)) for v in value):
            lines.append(f"{key}:")
            lines.extend(f"  - {cell(v)}" for v in value)
        elif isinstance(value, (dict, list)) and value:
            lines.append(f"{key}:")
            lines.extend("  " + ln for ln in pretty_json(value).splitlines())
        else:
            lines.append(f"{key.ljust(width)}  {cell(value, key)}".rstrip())
    return "\n".join(lines)


def document(doc: Any, title: str | None = None) -> str:
    """Render a JSON document: lists of objects become tables, objects become sections."""
    blocks: list[str] = []
    state = {"cut": False, "limit": width_limit()}
    _render(doc, title, blocks, state)
    if state["cut"]:
        blocks.append(CUT_NOTE.format(width=state["limit"]))
    return "\n\n".join(b for b in blocks if b)


def _render(value: Any, title: str | None, blocks: list[str], state: dict) -> None:
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        text, cut = render_table(value, limit=state["limit"])
        state["cut"] = state["cut"] or cut
        blocks.append(f"{title}\n{text}" if title else text)
    elif isinstance(value, dict):
        scalars = {k: v for k, v in value.items() if not isinstance(v, (dict, list))
                   or (isinstance(v, list) and not all(isinstance(x, dict) for x in v))}
        if scalars:
            width = max(len(k) for k in scalars)
            text = "\n".join(f"{k.ljust(width)}  {cell(v, k)}" for k, v in scalars.items())
            blocks.append(f"{title}\n{text}" if title else text)
        for k, v in value.items():
            if k in scalars:
                continue
            _render(v, f"{title}.{k}" if title else k, blocks, state)
    else:
        blocks.append(f"{title}: {cell(value)}" if title else cell(value))


def grouped_table(rows: list[dict], group: str, columns: list[str] | None = None) -> tuple[str, bool]:
    """A table whose rows are grouped under a title line per value of ``group`` (rows come sorted by it
    within their order; a value seen again starts a new group), the group column left out. Narrower
    than a table repeating the group in every row (e.g. the rules of each table)."""
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(k for k in row if k not in columns and k != group)
    if not rows:
        return render_table(rows, columns, width_limit())
    first = columns[0]
    indented = [{**row, first: "  " + cell(row.get(first), first)} for row in rows]
    text, cut = render_table(indented, columns, width_limit())
    lines = text.splitlines()
    out, last = lines[:2], object()
    for row, line in zip(rows, lines[2:]):
        if row.get(group) != last:
            last = row.get(group)
            out.append(cell(last, group))
        out.append(line)
    return "\n".join(out), cut

