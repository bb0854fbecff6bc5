"""The embedded PostgreSQL cluster: a private server in a data directory, started on demand.

Runs as the calling user; as root (PostgreSQL refuses to run as root) initdb and pg_ctl run as the
``postgres`` OS user through ``runuser``. The CLI always connects over the unix socket in the data dir.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psycopg
from psycopg import sql

from .config import DEFAULT_PORT
from .errors import DwhError

DATABASE = "dwh"
SUPERUSER = "postgres"
SERVICE_USER = "postgres"  # OS user that runs the server when dwh is run as root
CONF_MARKER = "# --- dwh embedded cluster ---"


def _is_root() -> bool:
    return os.geteuid() == 0


def default_data_dir() -> Path:
    if _is_root():
        # /root is not traversable by the unprivileged user that runs the server.
        return Path("/var/lib/dwh/pgdata")
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(xdg) / "dwh" / "pgdata"


def find_bindir() -> Path:
    """The PostgreSQL server binaries: ``pg_config --bindir`` if it has pg_ctl, else the newest
    /usr/lib/postgresql/*/bin."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            bindir = Path(out.stdout.strip())
            if (bindir / "pg_ctl").exists() and (bindir / "initdb").exists():
                return bindir
        except (OSError, subprocess.CalledProcessError):
            pass

    def version_key(path: str):
        ver = Path(path).parent.name
        return [int(p) if p.isdigit() else 0 for p in ver.split(".")]

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=version_key)
    if candidates:
        return Path(candidates[-1]).parent
    raise DwhError("PostgreSQL server binaries not found",
                   hint="install them: scripts/bootstrap.sh (Debian package postgresql-15)")


def pkglibdir(bindir: Path) -> Path | None:
    pg_config = bindir / "pg_config"
    if not pg_config.exists():
        pg_config = Path(shutil.which("pg_config") or "/nonexistent")
    try:
        out = subprocess.run([str(pg_config), "--pkglibdir"], capture_output=True, text=True, check=True)
        return Path(out.stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return None


@dataclass
class Status:
    data_dir: Path
    port: int
    initialized: bool
    running: bool

    def as_dict(self) -> dict:
        return {"data_dir": str(self.data_dir), "port": self.port,
                "initialized": self.initialized, "running": self.running}


class Cluster:
    def __init__(self, data_dir: Path, port: int = DEFAULT_PORT):
        self.data_dir = Path(data_dir).absolute()
        self.port = int(port)
        self._bindir: Path | None = None

    @classmethod
    def from_env(cls, data_dir: str | None = None) -> "Cluster":
        path = data_dir or os.environ.get("DWH_DATA_DIR") or default_data_dir()
        try:
            port = int(os.environ.get("DWH_PORT") or DEFAULT_PORT)
        except ValueError:
            raise DwhError(f"DWH_PORT must be a number, not {os.environ['DWH_PORT']!r}") from None
        return cls(Path(path), port)

    # -- paths --------------------------------------------------------------------------------
    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_bindir()
        return self._bindir

    @property
    def logfile(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    def conninfo(self, dbname: str = DATABASE) -> str:
        return psycopg.conninfo.make_conninfo(host=str(self.data_dir), port=str(self.port),
                                              user=SUPERUSER, dbname=dbname)

    # -- running the server tools ---------------------------------------------------------------
    def _service_user(self) -> str | None:
        if not _is_root():
            return None
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise DwhError(f"running as root, but there is no '{SERVICE_USER}' OS user to run "
                           "PostgreSQL as (PostgreSQL refuses to run as root)",
                           hint=f"install postgresql-15 (it creates the user) or: "
                                f"useradd --system --home /var/lib/postgresql {SERVICE_USER}") from None
        return SERVICE_USER

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / tool), *args]
        user = self._service_user()
        if user:
            cmd = ["runuser", "-u", user, "--", *cmd]
        # cwd: a folder the service user can enter (not /root).
        cwd = self.data_dir.parent if self.data_dir.parent.exists() else "/"
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
        if check and proc.returncode != 0:
            output = (proc.stderr or proc.stdout).strip()
            raise DwhError(f"{tool} failed (exit {proc.returncode})",
                           detail=output[-2000:] or None,
                           hint=f"see {self.logfile}" if tool == "pg_ctl" else None)
        return proc

    # -- state ------------------------------------------------------------------------------------
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialized():
            return False
        # pg_ctl status: 0 running, 3 not running, 4 no accessible data directory
        return self._run("pg_ctl", "-D", str(self.data_dir), "status", check=False).returncode == 0

    def status(self) -> Status:
        return Status(self.data_dir, self.port, self.initialized(), self.running())

    # -- lifecycle ---------------------------------------------------------------------------------
    def init(self, log: Callable[[str], None] = lambda _m: None) -> None:
        parent = self.data_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        user = self._service_user()
        if user:
            pw = pwd.getpwnam(user)
            os.chown(parent, pw.pw_uid, pw.pw_gid)
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise DwhError(f"{self.data_dir} exists, is not empty and is not a PostgreSQL data directory",
                           hint="point DWH_DATA_DIR / --data-dir at an empty or new folder")
        log(f"initializing embedded PostgreSQL cluster in {self.data_dir}")
        self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8")
        lines = [
            "",
            CONF_MARKER,
            "listen_addresses = 'localhost'",
            f"port = {self.port}",
            f"unix_socket_directories = '{_conf_quote(str(self.data_dir))}'",
            "max_worker_processes = 16",
        ]
        libdir = pkglibdir(self.bindir)
        if libdir and (libdir / "pg_cron.so").exists():
            lines += [
                "shared_preload_libraries = 'pg_cron'",
                f"cron.database_name = '{DATABASE}'",
                "cron.use_background_workers = on",
            ]
        conf = self.data_dir / "postgresql.conf"
        # written by us (root or the owner); keep ownership with the service user
        with conf.open("a") as fh:
            fh.write("\n".join(lines) + "\n")

    def start(self, log: Callable[[str], None] = lambda _m: None) -> bool:
        """Start the cluster (initializing it first if needed). Returns False when already running."""
        if not self.initialized():
            self.init(log=log)
        if self.running():
            self.ensure_database()
            return False
        log(f"starting embedded PostgreSQL on port {self.port} (data {self.data_dir}, log {self.logfile})")
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.logfile), "-w", "-t", "60",
                  "-o", f"-p {self.port}", "start")
        self.ensure_database()
        return True

    def ensure_running(self, log: Callable[[str], None] = lambda _m: None) -> None:
        self.start(log=log)

    def stop(self) -> bool:
        """Stop the cluster. Returns False when it was not running."""
        if not self.running():
            return False
        self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-t", "60", "-m", "fast", "stop")
        return True

    def ensure_database(self) -> None:
        with psycopg.connect(self.conninfo("postgres"), autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


def _conf_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "''")
