"""Plain-text tables for people (no external dependencies)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any, Iterable


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, separators=(",", ":"))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (dt.date, dt.timedelta, decimal.Decimal)):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("\n", " ")


def table(rows: Iterable[dict], columns: list[str] | None = None, max_width: int = 60) -> str:
    """A plain table: header, dashes, one line per row; numbers right-aligned."""
    rows = list(rows)
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
    if not columns:
        return "(no rows)"

    def clip(s: str) -> str:
        return s if len(s) <= max_width else s[: max_width - 3] + "..."

    body = [[clip(cell(row.get(c))) for c in columns] for row in rows]
    numeric = [all(isinstance(row.get(c), (int, float, decimal.Decimal)) and not isinstance(row.get(c), bool)
                   for row in rows if row.get(c) is not None) and any(row.get(c) is not None for row in rows)
               for c in columns]
    widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in body]
    if not rows:
        out.append("(no rows)")
    return "\n".join(out)


def document(doc: Any, title: str | None = None) -> str:
    """Render a JSON document: lists of objects become tables, objects become sections."""
    blocks: list[str] = []
    _render(doc, title, blocks)
    return "\n\n".join(b for b in blocks if b)


def _render(value: Any, title: str | None, blocks: list[str]) -> None:
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        blocks.append(f"{title}\n{table(value)}" if title else table(value))
    elif isinstance(value, dict):
        scalars = {k: v for k, v in value.items() if not isinstance(v, (dict, list))
                   or (isinstance(v, list) and not all(isinstance(x, dict) for x in v))}
        if scalars:
            width = max(len(k) for k in scalars)
            text = "\n".join(f"{k.ljust(width)}  {cell(v)}" for k, v in scalars.items())
            blocks.append(f"{title}\n{text}" if title else text)
        for k, v in value.items():
            if k in scalars:
                continue
            _render(v, f"{title}.{k}" if title else k, blocks)
    else:
        blocks.append(f"{title}: {cell(value)}" if title else cell(value))
