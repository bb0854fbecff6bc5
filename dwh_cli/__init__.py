"""dwh: the Python half of a data warehouse that lives inside PostgreSQL."""


def _record_early_sigint(signum, frame):
    """Ctrl-C while the `dwh` command still imports its modules: remembered instead of a traceback (the
    CLI exits 130 once it runs; see interrupt.py)."""
    global early_interrupt
    early_interrupt = True


early_interrupt = False


def _install_early_sigint() -> None:
    import os
    import signal
    import sys

    main = sys.modules.get("__main__")
    # only in the `dwh` console script (never when a library or pytest imports dwh_cli)
    if os.path.basename(getattr(main, "__file__", "") or "") == "dwh" and \
            signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _record_early_sigint)


_install_early_sigint()  # first: before the imports below and those of dwh_cli.cli (click, psycopg)

# The version, kept equal to pyproject.toml's by tests/test_cli.py. A constant rather than
# importlib.metadata.version("dwh"): that import costs ~45 ms at every start of the CLI (measured with
# python -X importtime), a noticeable part of a small `dwh load` or `dwh status`.
__version__ = "0.1.0"
