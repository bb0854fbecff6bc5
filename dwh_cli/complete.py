"""Shell completion of pipeline, step, area and table names, read from the registry.

Enable it with click's completion scripts (README, "Shell completion"):

    eval "$(_DWH_COMPLETE=bash_source dwh)"     # ~/.bashrc
    eval "$(_DWH_COMPLETE=zsh_source dwh)"      # ~/.zshrc
    _DWH_COMPLETE=fish_source dwh | source      # ~/.config/fish/completions/dwh.fish

Completion must be quick and quiet: it uses the connection the command line would use (--dsn, DWH_DSN,
PG*, or the embedded cluster only when it already runs: completion never starts it), a 2 s connect
timeout, and on any failure offers nothing (no message, no traceback)."""

from __future__ import annotations

from typing import Any

from click.shell_completion import CompletionItem

CONNECT_TIMEOUT = 2


def _conninfo(ctx) -> str | None:
    from .config import Settings

    root = ctx.find_root()
    params = root.params or {}
    settings = Settings(dsn=params.get("dsn"), data_dir=params.get("data_dir"))
    explicit = settings.explicit_conninfo()
    if explicit is not None:
        return explicit
    cluster = settings.cluster()
    if not cluster.running():
        return None
    return cluster.conninfo()


def _names(ctx, query: str, params: Any = None) -> list[str]:
    try:
        import psycopg

        conninfo = _conninfo(ctx)
        if conninfo is None:
            return []
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                             application_name="dwh completion") as conn:
            conn.add_notice_handler(lambda _d: None)
            return [str(r[0]) for r in conn.execute(query, params).fetchall() if r[0] is not None]
    except Exception:  # completion stays silent: no server, no registry, no privilege ...
        return []


def _items(names: list[str], incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def pipelines(ctx, param, incomplete: str) -> list[CompletionItem]:
    """Registered pipeline names."""
    return _items(_names(ctx, "SELECT pipeline_name FROM dwh_etl.pipelines ORDER BY 1"), incomplete)


def steps(ctx, param, incomplete: str) -> list[CompletionItem]:
    """Step names (of the PIPELINE argument when the command has one, else of every pipeline)."""
    pipeline = (ctx.params or {}).get("pipeline")
    return _items(_names(ctx, "SELECT DISTINCT step_name FROM dwh_etl.steps "
                              "WHERE %(p)s::text IS NULL OR pipeline_name = %(p)s ORDER BY 1",
                         {"p": pipeline}), incomplete)


def tables(ctx, param, incomplete: str) -> list[CompletionItem]:
    """Tables of the registry (schema.table)."""
    return _items(_names(ctx, "SELECT table_name FROM dwh_etl.table_registry ORDER BY 1"), incomplete)


def areas(ctx, param, incomplete: str) -> list[CompletionItem]:
    return _items(_names(ctx, "SELECT area FROM dwh_etl.areas ORDER BY 1"), incomplete)


def selectors(ctx, param, incomplete: str) -> list[CompletionItem]:
    """For --select/--exclude: step, table and area names, with dbt's graph operators kept (+x, x+)."""
    prefix = "+" if incomplete.startswith("+") else ""
    word = incomplete[len(prefix):]
    pipeline = (ctx.params or {}).get("pipeline")
    names = _names(ctx, """
        SELECT DISTINCT n FROM (
            SELECT step_name FROM dwh_etl.steps WHERE %(p)s::text IS NULL OR pipeline_name = %(p)s
            UNION ALL SELECT table_name FROM dwh_etl.table_registry
            UNION ALL SELECT area FROM dwh_etl.areas) AS s(n)
        ORDER BY 1""", {"p": pipeline})
    return [CompletionItem(prefix + n) for n in names if n.startswith(word)]
