"""Ctrl-C during a command: cancel the server-side query, then exit 130 with one line "interrupted".

Why a handler of our own (issue 9: Ctrl-C was twice in ~70 tries ignored, once with two tracebacks):
Python's default SIGINT handler raises KeyboardInterrupt at whatever bytecode runs when the signal
arrives. During ``dwh run`` that is often psycopg's notice callback (our progress printer), which libpq
calls from C: an exception there is reported as "Exception ignored ..." (a traceback) and swallowed, so
the CALL went on and the command exited 0.

Here the handler never raises while a query is running: it records the interrupt and cancels the
query on the server (the CALL then fails with QueryCanceled); the main flow raises KeyboardInterrupt at
its next checkpoint (``check()``: before each statement of a run, and when the command ends), and the
CLI turns the recorded interrupt into exit 130 whatever error or result the cancelled query produced.
While no query runs it raises KeyboardInterrupt at once (plain Python code then, nothing swallows it).
"""

from __future__ import annotations

import os
import signal
import threading
import weakref
from contextlib import contextmanager

from psycopg.pq import TransactionStatus

_requested = 0  # SIGINTs received while installed
_armed = False  # inside a command: may raise at once when no query runs
_notice_depth = 0  # > 0 while one of our notice callbacks runs
_connections: "weakref.WeakSet" = weakref.WeakSet()


def requested() -> bool:
    return _requested > 0


def check() -> None:
    """Raise KeyboardInterrupt when Ctrl-C was pressed (call between statements)."""
    if _requested:
        raise KeyboardInterrupt


def disarm() -> None:
    """From now on only record Ctrl-C (the command is printing its outcome)."""
    global _armed
    _armed = False


def register(conn) -> None:
    """Cancel this connection's running query on Ctrl-C."""
    _connections.add(conn)


def notice_callback(fn):
    """Wrap a notice handler so a Ctrl-C arriving inside it is deferred, not swallowed by libpq's
    callback machinery."""

    def wrapper(diag):
        global _notice_depth
        _notice_depth += 1
        try:
            fn(diag)
        except Exception:  # a broken pipe on stderr must not break the run
            pass
        finally:
            _notice_depth -= 1

    return wrapper


def _cancel_running() -> bool:
    busy = False
    for conn in list(_connections):
        try:
            if conn.closed or conn.pgconn.transaction_status != TransactionStatus.ACTIVE:
                continue
            busy = True
            try:
                conn.cancel_safe(timeout=5)
            except Exception:
                conn.cancel()
        except Exception:
            pass
    return busy


def _handler(signum, frame) -> None:
    global _requested
    _requested += 1
    if _requested >= 3:  # the third Ctrl-C: stop waiting for the server
        try:
            os.write(2, b"interrupted\n")
        finally:
            os._exit(130)
    busy = _cancel_running()
    if _requested == 1 and _armed and not busy and _notice_depth == 0:
        raise KeyboardInterrupt


def _reset() -> None:
    global _requested
    _requested = 0


@contextmanager
def handling(arm: bool = True):
    """Install the handler (main thread only) for the duration; ``arm``: raise at once when idle."""
    global _armed, _requested
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    ours = previous is _handler
    was_armed = _armed
    if not ours:
        _reset()
        import dwh_cli

        if previous is dwh_cli._record_early_sigint and dwh_cli.early_interrupt:
            _requested = 1  # Ctrl-C while the command was starting
        signal.signal(signal.SIGINT, _handler)
    _armed = arm
    try:
        yield
    finally:
        _armed = was_armed
        if not ours:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


__all__ = ["check", "disarm", "handling", "notice_callback", "register", "requested"]
