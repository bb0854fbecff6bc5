"""Errors the CLI turns into one readable message and a documented exit code."""

from __future__ import annotations

import psycopg

# Documented exit codes (README.md, "Exit codes").
EXIT_FAILURE = 1  # database error, failed run (DW003), anything else
EXIT_USAGE = 2  # click usage errors
EXIT_CONNECT = 3  # cannot connect / server unreachable
EXIT_UNKNOWN_PIPELINE = 4  # SQLSTATE DW001
EXIT_ALREADY_RUNNING = 5  # SQLSTATE DW002
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # stdout's reader left (`dwh ls | head`), as a shell reports a SIGPIPE death

SQLSTATE_EXIT = {
    "DW001": EXIT_UNKNOWN_PIPELINE,
    "DW002": EXIT_ALREADY_RUNNING,
    "DW003": EXIT_FAILURE,
}


class DwhError(Exception):
    """An error with a message for people, optional detail/hint, and an exit code."""

    def __init__(self, message: str, *, detail: str | None = None, hint: str | None = None,
                 exit_code: int = EXIT_FAILURE, sqlstate: str | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint
        self.exit_code = exit_code
        self.sqlstate = sqlstate

    def lines(self) -> list[str]:
        """The human form: ``error: ...`` then ``detail: ...`` and ``hint: ...`` lines (stderr)."""
        out = [f"error: {self.message}"]
        if self.detail:
            out.append(f"detail: {self.detail}")
        if self.hint:
            out.append(f"hint: {self.hint}")
        return out

    def as_dict(self) -> dict:
        """The ``--json`` form (one line on stderr): {"error", "code" (the exit code), and when known
        "sqlstate", "detail", "hint"}."""
        out = {"error": self.message, "code": self.exit_code}
        for key in ("sqlstate", "detail", "hint"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


class UsageFailure(DwhError):
    """A click usage error in dwh's style: exit 2, the usage line kept."""

    def __init__(self, message: str, usage: str | None = None, help_hint: str | None = None):
        super().__init__(message, hint=help_hint, exit_code=EXIT_USAGE)
        self.usage = usage

    def lines(self) -> list[str]:
        out = [f"error: {self.message}"]
        if self.usage:
            out.append(self.usage)
        if self.hint:
            out.append(f"hint: {self.hint}")
        return out

    def as_dict(self) -> dict:
        out = super().as_dict()
        if self.usage:
            out["usage"] = self.usage
        return out


class ConnectError(DwhError):
    def __init__(self, message: str, **kw):
        kw.setdefault("exit_code", EXIT_CONNECT)
        super().__init__(message, **kw)


def from_psycopg(exc: psycopg.Error, prefix: str | None = None) -> DwhError:
    """Convert a psycopg error into a DwhError, keeping message, detail, hint and SQLSTATE."""
    diag = exc.diag
    sqlstate = exc.sqlstate
    message = diag.message_primary or _first_line(str(exc)) or type(exc).__name__
    if prefix:
        message = f"{prefix}: {message}"
    if sqlstate in SQLSTATE_EXIT:
        code = SQLSTATE_EXIT[sqlstate]
    elif sqlstate is None and isinstance(exc, psycopg.OperationalError):
        # No SQLSTATE: the client lost (or never had) the connection.
        code = EXIT_CONNECT
    elif sqlstate is not None and sqlstate.startswith("08"):
        code = EXIT_CONNECT
    else:
        code = EXIT_FAILURE
    hint = diag.message_hint
    if sqlstate == "42501" and not hint and any(f"permission denied for schema {s}" in message
                                                 for s in ("dwh_etl", "dwh_lineage")):
        # an analyst's login running what etl_service does (dwh load, run, cdc): say which role it needs
        hint = ("this login may not use the warehouse's engine: loading, running and retrying need a member of "
                "etl_service (or the owner); analyst_role reads gold (README, Roles; dwh db user add NAME --role etl)")
    if sqlstate == "3F000" and not hint and any(f'schema "{s}" does not exist' in message
                                                 for s in ("dwh_etl", "dwh_lineage")):
        # a database dwh never migrated (a new server, or --dsn naming another database)
        hint = ("this database has no warehouse (dwh_etl): run dwh migrate there, or check --dsn / DWH_DSN / "
                "PG* (dwh info shows the connection)")
    return DwhError(message, detail=diag.message_detail, hint=hint, exit_code=code, sqlstate=sqlstate)


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else ""
