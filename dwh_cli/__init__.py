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

from importlib.metadata import PackageNotFoundError, version  # noqa: E402

try:
    __version__ = version("dwh")
except PackageNotFoundError:  # running from a checkout without `pip install -e .`
    __version__ = "0.0.0+unknown"
