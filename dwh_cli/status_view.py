"""``dwh status`` for people: one summary line (healthy or not, and why), then the details that matter.

The document is dwh_etl.status_report()'s (what ``--json`` prints unchanged); the open quarantine count
comes from one more query (ops.open_quarantine). By default only what needs attention is listed in full,
the rest is one line per section (a screenful); ``--verbose`` prints every section."""

from __future__ import annotations

import textwrap
from typing import Any

from .output import CUT_NOTE, cell, document, render_table, width_limit

BAD_RUN = ("failed", "cancelled")


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _names(rows: list[dict], key: str, limit: int = 3) -> str:
    names = [str(r.get(key)) for r in rows if r.get(key) is not None]
    shown = ", ".join(names[:limit])
    return shown + (f", +{len(names) - limit}" if len(names) > limit else "")


def problems(doc: dict, quarantine: dict | None) -> tuple[list[str], list[str]]:
    """(problems, warnings): short phrases. Any problem makes the warehouse 'not healthy'."""
    bad, warn = [], []
    failed = [p for p in doc.get("pipelines", []) if p.get("last_status") in BAD_RUN]
    if failed:
        # a cancelled run is said as such (dwh cancel, Ctrl-C, statement_timeout): not a failure to look into
        cancelled = all(p.get("last_status") == "cancelled" for p in failed)
        bad.append((f"{_plural(len(failed), 'pipeline')} "
                    + ("had their last run cancelled" if cancelled else "failed their last run")
                    + f" ({_names(failed, 'pipeline')})")
                   if len(failed) > 1 else
                   f"pipeline {failed[0]['pipeline']} "
                   + ("had its last run cancelled" if cancelled else "failed its last run")
                   + f" (run {failed[0].get('last_run_id')})")
    checks = doc.get("failed_checks", [])
    if checks:
        errors = sum(1 for c in checks if c.get("severity") == "error")
        bad.append(f"{_plural(len(checks), 'failing rule')}" + (f" ({errors} errors)" if errors else ""))
    stale = [f for f in doc.get("freshness_sla", []) if f.get("passed") is False]
    if stale:
        bad.append(_plural(len(stale), "stale table"))
    missed = doc.get("missed_schedules", [])
    if missed:
        bad.append(f"{_plural(len(missed), 'pipeline')} missed their schedule ({_names(missed, 'pipeline')})")
    if quarantine and quarantine.get("open"):
        bad.append(f"{_plural(quarantine['open'], 'quarantined row')} open")
    sources = [s for s in doc.get("sources", []) if s.get("warnings")]
    if sources:
        bad.append(f"{_plural(len(sources), 'source')} with warnings ({_names(sources, 'source_name')}: "
                   f"{sources[0]['warnings'][0]})")
    stale_runs = doc.get("stale_runs", [])
    if stale_runs:
        bad.append(f"{_plural(len(stale_runs), 'stale run')} (marked running, session gone: "
                   f"{_names(stale_runs, 'run_id')})")
    interrupted = doc.get("interrupted_runs", [])
    if interrupted:
        bad.append(f"{_plural(len(interrupted), 'interrupted run')} holding its pipeline "
                   f"({_names(interrupted, 'run_id')})")
    blockers = doc.get("window_blockers", [])
    if blockers:
        bad.append(f"{_plural(len(blockers), 'open transaction')} holding load windows back")
    held = doc.get("held_back_runs", [])
    if held:
        warn.append(f"{_plural(len(held), 'pipeline')} whose last run held load windows back "
                    f"({_names(held, 'pipeline')}): their newer rows wait for the next run")
    unsynced = [s for s in doc.get("schedule", []) if s.get("state") not in ("ok", "pipeline inactive", None)]
    if unsynced:
        warn.append(f"{_plural(len(unsynced), 'schedule')} not synced to pg_cron")
    cron = [c for c in doc.get("cron_health", []) if c.get("ok") is False and c.get("item") != "jobs"]
    if cron:
        warn.append("pg_cron " + ", ".join(str(c.get("item")) for c in cron) + " not ok")
    return bad, warn


def summary_line(doc: dict, quarantine: dict | None) -> str:
    bad, warn = problems(doc, quarantine)
    text = ("not healthy: " + ", ".join(bad)) if bad else "healthy"
    if warn:
        text += ("; " if bad else " (") + "warnings: " + "; ".join(warn) + ("" if bad else ")")
    return text


def _table(title: str, rows: list[dict], columns: list[str] | None, state: dict) -> str:
    text, cut = render_table(rows, columns, state["limit"])
    state["cut"] = state["cut"] or cut
    return f"{title}\n{text}"


def status_text(doc: dict, quarantine: dict | None = None, verbose: bool = False) -> str:
    """The summary line, then the details (compact unless verbose)."""
    head = summary_line(doc, quarantine)
    if verbose:
        tail = [document(doc)]
        if quarantine is not None:
            tail.append(_quarantine_line(quarantine))
        return "\n\n".join([head, *tail])

    state = {"cut": False, "limit": width_limit()}
    blocks = [head]
    pipelines = doc.get("pipelines", [])
    if pipelines:
        blocks.append(_table("pipelines", [
            {"pipeline": p.get("pipeline"), "schedule_utc": p.get("schedule_utc"), "steps": p.get("steps"),
             "last_run": p.get("last_run_id"), "status": p.get("last_status"),
             "last_success": p.get("last_success_at")}
            for p in pipelines], None, state))
    runs = sorted(doc.get("recent_runs", []), key=lambda r: r.get("run_id") or 0, reverse=True)
    if runs:
        shown = runs[:5]
        blocks.append(_table(f"recent_runs (last {len(shown)} of {len(runs)})" if len(runs) > len(shown)
                             else "recent_runs", shown,
                             ["run_id", "pipeline", "run_date", "status", "started_at", "duration_s",
                              "rows_written", "error"], state))
    steps = doc.get("last_run_steps", [])
    if steps:
        # a step a --select left out is no problem (the count line still has it)
        not_ok = [s for s in steps if s.get("status") != "completed"
                  and not (s.get("status") == "skipped" and s.get("error") == "not selected")]
        by_status: dict[str, int] = {}
        for s in steps:
            by_status[s.get("status") or "?"] = by_status.get(s.get("status") or "?", 0) + 1
        counts = ", ".join(f"{n} {st}" for st, n in sorted(by_status.items(), key=lambda kv: -kv[1]))
        line = f"last_run_steps: {counts}"
        blocks.append(_table(line, not_ok, ["pipeline", "run_id", "step", "status", "duration_ms", "error"],
                             state) if not_ok else line)
    for key, title, columns in (
            ("failed_checks", "failed_checks", ["table", "check", "severity", "value", "threshold", "measured_at"]),
            ("missed_schedules", "missed_schedules", None),
            ("stale_runs", "stale_runs", None),
            ("interrupted_runs", "interrupted_runs", None),
            ("window_blockers", "window_blockers (open transactions holding load windows back)", None),
            ("held_back_runs", "held_back_runs (load windows that stopped early: the rows past them wait for the next run)",
             ["run_id", "pipeline", "run_date", "steps", "held_back_by"])):
        rows = doc.get(key, [])
        if rows:
            blocks.append(_table(title, rows, columns, state))
    stale = [f for f in doc.get("freshness_sla", []) if f.get("passed") is False]
    if stale:
        blocks.append(_table("freshness_sla (failing)", stale,
                             ["table", "rule", "severity", "max_age", "age"], state))
    sources = [s for s in doc.get("sources", []) if s.get("warnings")]
    if sources:
        blocks.append("sources (with warnings)\n" + "\n".join(
            _wrap(f"{s['source_name']}: {w}", state) for s in sources for w in s["warnings"]))
    unsynced = [s for s in doc.get("schedule", []) if s.get("state") not in ("ok", "pipeline inactive", None)]
    if unsynced:
        by_state: dict[str, list[str]] = {}
        for s in unsynced:
            by_state.setdefault(s["state"], []).append(str(s.get("pipeline") or s.get("job_name")))
        blocks.append("schedule\n" + "\n".join(_wrap(f"{st}: {', '.join(names)}", state)
                                                 for st, names in by_state.items()))
    # the 'jobs' item says what the schedule section says
    cron = [c for c in doc.get("cron_health", []) if c.get("ok") is False
            and not (unsynced and c.get("item") == "jobs")]
    if cron:
        # the first sentence of each detail; --verbose has the whole hint
        blocks.append("cron_health\n" + "\n".join(
            _wrap(f"{c.get('item')}: {str(c.get('detail') or '').split('; hint:')[0]}", state) for c in cron))
    overview = [_freshness_line(doc.get("freshness", []))]
    sla = doc.get("freshness_sla", [])
    if sla:
        overview.append(f"freshness SLAs: {len(sla) - len(stale)} of {len(sla)} met")
    if doc.get("watermarks"):
        overview.append(f"watermarks: {len(doc['watermarks'])} tables")
    if quarantine is not None:
        overview.append(_quarantine_line(quarantine))
    blocks.append("\n".join(_wrap(line, state)[2:] for line in overview if line))
    foot = "dwh status --verbose shows every section in full, --json the whole document"
    if state["cut"]:
        foot = CUT_NOTE.format(width=state["limit"]) + "\n" + foot
    blocks.append(foot)
    return "\n\n".join(blocks)


def _wrap(text: str, state: dict) -> str:
    """An indented line, wrapped to the terminal's width (a long list of names stays readable)."""
    if not state["limit"]:
        return "  " + text
    return textwrap.fill(text, width=max(state["limit"], 40), initial_indent="  ", subsequent_indent="    ",
                         break_on_hyphens=False)


def _freshness_line(rows: list[dict]) -> str:
    if not rows:
        return ""
    loaded = [r for r in rows if r.get("last_loaded_at")]
    never = len(rows) - len(loaded)
    if not loaded:
        return f"freshness: none of {len(rows)} tables loaded yet"
    newest = max(loaded, key=lambda r: r["last_loaded_at"])
    oldest = min(loaded, key=lambda r: r["last_loaded_at"])
    text = (f"freshness: {len(loaded)} of {len(rows)} tables loaded, latest {cell(newest['last_loaded_at'])}, "
            f"oldest {oldest['table']} ({cell(oldest.get('age'))} ago)")
    return text + (f", {never} never loaded" if never else "")


def _quarantine_line(q: dict[str, Any]) -> str:
    if q.get("open") is None:
        return "quarantine: not readable with this role"
    if not q["open"]:
        return "quarantine: no open rows"
    return (f"quarantine: {_plural(q['open'], 'row')} open in {_plural(q.get('tables') or 0, 'table')} "
            f"(dwh quarantine list)")
