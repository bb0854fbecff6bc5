"""Progress of a pipeline run on stderr: step n of N, elapsed time, and a heartbeat for long steps.

The runner (dwh_etl.run_pipeline, SQL) RAISEs a NOTICE when a run starts, when each step starts and
ends (done, failed, cancelled, skipped) and when the run completes; psycopg hands them to the CLI while
the CALL is still running. ``Progress`` is the notice callback: it turns the runner's notices into
``[n/N] step: done ...`` lines and, from a background thread, prints ``still running step X (25 s)``
every ``interval`` seconds (DWH_HEARTBEAT, default 10; 0 turns it off) while a step runs. Other notices
pass through unchanged, except PostgreSQL's "... does not exist, skipping" (DROP ... IF EXISTS inside
steps), which only says nothing happened."""

from __future__ import annotations

import os
import re
import threading
import time
from typing import Callable

from .output import duration

_RUN_STARTED = re.compile(r"^run (\d+) of pipeline (\S+) for (\S+) started$")
_RUN_DONE = re.compile(r"^run (\d+) of pipeline (\S+) completed in ([\d.]+) s$")
_STEP_STARTED = re.compile(r"^step (\S+) started$")
_STEP_DONE = re.compile(r"^step (\S+) done: (-?\d+|NULL|<NULL>) rows read, (-?\d+|NULL|<NULL>) written in (\d+) ms$")
_STEP_FAILED = re.compile(r"^step (\S+) (failed|cancelled) after (\d+|NULL|<NULL>) ms: (.*)$", re.S)
_STEP_SKIPPED = re.compile(r"^step (\S+) skipped: (.*)$", re.S)
_SKIPPING = re.compile(r"does not exist, skipping$")


def heartbeat_interval() -> float:
    raw = os.environ.get("DWH_HEARTBEAT", "")
    try:
        return max(float(raw), 0.0) if raw else 10.0
    except ValueError:
        return 10.0


def _num(text: str) -> str:
    return "?" if text in ("NULL", "<NULL>") else text


class Progress:
    """Notice callback for ``ops.run_pipeline`` (use as a context manager for the heartbeat)."""

    def __init__(self, write: Callable[[str], None], interval: float | None = None):
        self.write = write
        self.interval = heartbeat_interval() if interval is None else interval
        self.total: int | None = None
        self.n = 0
        self.step: str | None = None
        self.step_started = 0.0
        self.run_started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- run_pipeline hooks ---------------------------------------------------------------------------
    def begin(self, pipeline: str, day, total: int | None) -> None:
        """Called before each run's CALL with the number of steps it will run (None when unknown)."""
        with self._lock:
            self.total = total
            self.n = 0
            self.step = None
            self.run_started = time.monotonic()

    def __call__(self, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            m = _RUN_STARTED.match(message)
            if m:
                self.run_started = now
                steps = f", {self.total} steps" if self.total else ""
                self.write(f"run {m[1]}: pipeline {m[2]} for {m[3]}{steps}")
                return
            m = _STEP_STARTED.match(message)
            if m:
                self.n += 1
                self.step, self.step_started = m[1], now
                return
            m = _STEP_DONE.match(message)
            if m:
                self._step_line(m[1], f"done, {_num(m[2])} rows read, {_num(m[3])} written, "
                                      f"{duration(int(m[4]) / 1000)}", now)
                return
            m = _STEP_FAILED.match(message)
            if m:
                took = "" if m[3] in ("NULL", "<NULL>") else f" after {duration(int(m[3]) / 1000)}"
                self._step_line(m[1], f"{m[2].upper()}{took}: {m[4]}", now)
                return
            m = _STEP_SKIPPED.match(message)
            if m:
                self.n += 1
                self.step = m[1]
                self._step_line(m[1], f"skipped: {m[2]}", now)
                return
            m = _RUN_DONE.match(message)
            if m:
                self.write(f"run {m[1]}: completed in {duration(float(m[3]))}")
                return
            if _SKIPPING.search(message):
                return
            self.write(message)

    def _step_line(self, name: str, what: str, now: float) -> None:
        if name != self.step:  # a notice without its start (should not happen): count it anyway
            self.n += 1
        of = f"{self.n}/{self.total}" if self.total and self.n <= self.total else str(self.n)
        pad = len(f"{self.total}/{self.total}") if self.total else 0
        self.write(f"[{of.rjust(pad)}] {name}: {what} (elapsed {duration(now - self.run_started)})")
        self.step = None

    # -- heartbeat ----------------------------------------------------------------------------------
    def __enter__(self) -> "Progress":
        if self.interval > 0:
            self._thread = threading.Thread(target=self._beat, name="dwh-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _beat(self) -> None:
        last_step, last_beat = None, 0.0
        while not self._stop.wait(min(self.interval / 4, 0.5)):
            now = time.monotonic()
            with self._lock:
                if self.step is None:
                    continue
                if self.step != last_step:
                    last_step, last_beat = self.step, self.step_started
                if now - last_beat >= self.interval:
                    last_beat = now
                    of = f" ({self.n}/{self.total})" if self.total else ""
                    self.write(f"  still running step {self.step}{of}: {duration(now - self.step_started)}, "
                               f"elapsed {duration(now - self.run_started)}")
