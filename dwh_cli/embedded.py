"""The embedded PostgreSQL cluster: a private server in a data directory, started on demand.

Runs as the calling user; as root (PostgreSQL refuses to run as root) initdb and pg_ctl run as the
``postgres`` OS user through ``runuser``. The CLI always connects over the unix socket in the data dir.

Security (issue 9: it used to be created with ``--auth=trust`` and listen on 127.0.0.1, so every local OS
user could connect as superuser and run programs as the cluster's OS user through COPY ... TO PROGRAM):
by default the cluster listens on no TCP address at all, only on a unix socket inside the data directory,
which only its owner may enter (0700). ``dwh db start --listen ADDR:PORT`` opens TCP for BI tools with
scram-sha-256 passwords only; the superuser has no password and is refused over TCP.

The port and the listen address are remembered in ``<data dir>/dwh.conf`` (included last by
postgresql.conf) and read back on every start; ``pg_hba.conf`` is written by dwh.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import ipaddress
import os
import pwd
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psycopg
from psycopg import sql

from .config import DEFAULT_PORT
from .errors import ConnectError, DwhError

DATABASE = "dwh"
SUPERUSER = "postgres"
SERVICE_USER = "postgres"  # OS user that runs the server when dwh is run as root
CONF_MARKER = "# --- dwh embedded cluster ---"
LOCK_WAIT = 180  # seconds a start/stop waits for another dwh starting or stopping the same cluster


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


DWH_CONF = "dwh.conf"  # managed settings, included last by postgresql.conf
HBA_HEADER = "# Managed by dwh (dwh db start): rewritten when the cluster's settings change."


@dataclass(frozen=True)
class Listen:
    """A TCP listen address for BI tools (``dwh db start --listen ADDR:PORT``)."""

    address: str
    port: int

    def __str__(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")


def parse_listen(value: str) -> Listen | None:
    """``ADDR:PORT`` (``0.0.0.0:5433``, ``127.0.0.1:54329``, ``[::1]:5433``, ``*:5433``) or ``none``."""
    value = value.strip()
    if value.lower() in ("none", "off", "socket"):
        return None
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\[\]]+):(\d+)", value)
    if not m:
        raise ValueError(f"{value!r} is not ADDR:PORT (e.g. 127.0.0.1:54329, 0.0.0.0:5433, [::1]:5433) "
                         "or 'none'")
    addr, port = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    if addr != "*":
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            if not _HOSTNAME.match(addr):
                raise ValueError(f"{addr!r} is not an IP address, host name or '*'") from None
    port_n = int(port)
    if not 1 <= port_n <= 65535:
        raise ValueError(f"port {port_n} is out of range (1-65535)")
    return Listen(addr, port_n)


UNCHANGED = object()  # start(listen=UNCHANGED): keep the remembered listen setting


@dataclass
class Status:
    data_dir: Path
    port: int
    initialized: bool
    running: bool
    listen: Listen | None = None

    def as_dict(self) -> dict:
        return {"data_dir": str(self.data_dir), "port": self.port,
                "initialized": self.initialized, "running": self.running,
                "listen": str(self.listen) if self.listen else None}


class Cluster:
    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir = Path(data_dir).absolute()
        # The port asked for (DWH_PORT): used when the cluster is created; afterwards the port remembered
        # in the data directory wins (a second OS user with their own data dir never clashes, and another
        # DWH_PORT does not silently move an existing cluster).
        self.requested_port = int(port) if port is not None else None
        self._bindir: Path | None = None

    @classmethod
    def from_env(cls, data_dir: str | None = None) -> "Cluster":
        path = data_dir or os.environ.get("DWH_DATA_DIR") or default_data_dir()
        port = None
        if os.environ.get("DWH_PORT"):
            try:
                port = int(os.environ["DWH_PORT"])
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

    @property
    def port(self) -> int:
        remembered = self._settings().get("port")
        if remembered:
            return int(remembered)
        return self.requested_port or DEFAULT_PORT

    @property
    def listen(self) -> Listen | None:
        addresses = self._settings().get("listen_addresses", "")
        return Listen(addresses, self.port) if addresses else None

    def conninfo(self, dbname: str = DATABASE) -> str:
        return psycopg.conninfo.make_conninfo(host=str(self.data_dir), port=str(self.port),
                                              user=SUPERUSER, dbname=dbname)

    # -- remembered settings ---------------------------------------------------------------------
    def _settings(self) -> dict[str, str]:
        """port and listen_addresses from dwh.conf; for a cluster made before dwh.conf existed, the
        last ``port = N`` of postgresql.conf (its listen_addresses is reported as unmanaged)."""
        for name in (DWH_CONF, "postgresql.conf"):
            try:
                text = (self.data_dir / name).read_text()
            except OSError:
                continue
            out: dict[str, str] = {}
            for line in text.splitlines():
                m = re.match(r"\s*(port|listen_addresses)\s*=\s*'?([^'#]*?)'?\s*(#.*)?$", line)
                if m:
                    out[m.group(1)] = m.group(2).strip()
            if name == "postgresql.conf":
                out.pop("listen_addresses", None)
            if out:
                return out
        return {}

    def _managed(self) -> bool:
        return (self.data_dir / DWH_CONF).exists()

    def _write_owned(self, path: Path, text: str) -> None:
        """Write a config file in the data dir, 0600 and owned like the data dir (as root: postgres).

        Never through a symlink: the data dir belongs to the cluster's OS user (as root: postgres), who
        could otherwise plant ``dwh.conf.dwh-tmp`` -> /etc/shadow and have root truncate, write and chown
        that file (attack 13b). The temporary file is created anew (O_EXCL, O_NOFOLLOW) and chowned through
        its descriptor."""
        st = self.data_dir.stat()
        tmp = path.with_name(path.name + ".dwh-tmp")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # a leftover (or a planted link: unlink removes the link, not its target)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as fh:
            if _is_root():
                os.fchown(fh.fileno(), st.st_uid, st.st_gid)
            fh.write(text)
        os.replace(tmp, path)

    def _append_conf(self, path: Path, text: str) -> None:
        """Append to a config file of the data dir, never through a symlink (see _write_owned)."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise DwhError(f"{path} is a symbolic link: dwh does not write through links in the data "
                               "directory", hint="replace the link by the file itself") from None
            raise
        with os.fdopen(fd, "a") as fh:
            fh.write(text)

    def _write_config(self, port: int, listen: Listen | None) -> None:
        conf = [
            "# Managed by dwh: `dwh db start [--listen ADDR:PORT | --listen none]` rewrites this file.",
            "# Port and listen address are remembered here, with the data directory.",
            f"port = {port}",
            # No TCP unless asked for: the unix socket below is the only way in.
            f"listen_addresses = '{_conf_quote(listen.address if listen else '')}'",
            f"unix_socket_directories = '{_conf_quote(str(self.data_dir))}'",
            "unix_socket_permissions = 0700",
            "password_encryption = 'scram-sha-256'",
        ]
        self._write_owned(self.data_dir / DWH_CONF, "\n".join(conf) + "\n")
        hba = [
            HBA_HEADER,
            "# Unix socket: trusted, because only the cluster's OS user (and root) can enter the data",
            "# directory (0700) that holds it. Over TCP (dwh db start --listen): scram-sha-256 passwords",
            "# only, to the dwh database; never trust; the superuser has no password and is refused.",
            "# TYPE  DATABASE  USER      ADDRESS  METHOD",
            "local   all       all                trust",
            f"host    all       {SUPERUSER:<8}  all      reject",
            f"host    {DATABASE:<8}  all       all      scram-sha-256",
        ]
        self._write_owned(self.data_dir / "pg_hba.conf", "\n".join(hba) + "\n")
        pgconf = self.data_dir / "postgresql.conf"
        include = f"include_if_exists = '{DWH_CONF}'"
        if include not in pgconf.read_text():  # last, so it overrides what an older dwh wrote above
            self._append_conf(pgconf, f"\n# dwh: managed settings (port, listen address), last so they win\n"
                                      f"{include}\n")

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
        log_offset = self._log_size()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
        if check and proc.returncode != 0:
            output = (proc.stderr or proc.stdout).strip()
            hint = None
            if tool == "pg_ctl":
                # The cause is in the server log, not in pg_ctl's output ("could not start server"):
                # quote it (e.g. "could not bind IPv4 address ...: Address already in use").
                cause = self._log_tail(log_offset)
                if cause:
                    output = (output + "\n" if output else "") + f"server log ({self.logfile}):\n{cause}"
                hint = f"see {self.logfile}"
            raise DwhError(f"{tool} failed (exit {proc.returncode})",
                           detail=output[-3000:] or None, hint=hint)
        return proc

    def _log_size(self) -> int:
        try:
            return self.logfile.stat().st_size
        except OSError:
            return 0

    def _log_tail(self, offset: int, max_lines: int = 8) -> str:
        try:
            with self.logfile.open("rb") as fh:
                fh.seek(offset)
                text = fh.read(200_000).decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [ln for ln in text.splitlines() if ln.strip()]
        relevant = [ln for ln in lines if re.search(r"\b(FATAL|PANIC|ERROR|HINT|DETAIL)\b|could not", ln)]
        return "\n".join((relevant or lines)[-max_lines:])

    # -- state ------------------------------------------------------------------------------------
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialized():
            return False
        # pg_ctl status: 0 running, 3 not running, 4 no accessible data directory
        return self._run("pg_ctl", "-D", str(self.data_dir), "status", check=False).returncode == 0

    def status(self) -> Status:
        return Status(self.data_dir, self.port, self.initialized(), self.running(), self.listen)

    # -- lifecycle ---------------------------------------------------------------------------------
    def _make_parent(self) -> None:
        """Create the data directory's parent (and, as root, the data directory and the log file for the
        service user). As root only what dwh creates is given to the service user: an existing parent
        (``--data-dir /srv/pgdata``: /srv; ``/tmp/pgdata``: /tmp; a user's home) keeps its owner (it used
        to be chowned to postgres, handing the postgres OS user a system directory)."""
        parent = self.data_dir.parent
        created = not parent.exists()
        try:
            # 0700 whatever the umask: in a folder others may write, they could rename the data directory
            # away and put their own cluster (socket, log) in its place
            parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise _cannot_create(parent, exc) from None
        user = self._service_user()
        if not user:
            return
        pw = pwd.getpwnam(user)
        if created:
            os.chown(parent, pw.pw_uid, pw.pw_gid)
        if not self.data_dir.exists():
            self.data_dir.mkdir(mode=0o700)
            os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)
        # pg_ctl -l runs as the service user, who may not write in a parent it does not own: create the log
        # for it (never through a link; an existing log is left as it is)
        try:
            fd = os.open(self.logfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            return
        try:
            os.fchown(fd, pw.pw_uid, pw.pw_gid)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _locked(self, log: Callable[[str], None] = lambda _m: None):
        """Serialize starts and stops of this data directory: two dwh commands at once on a new cluster
        both ran initdb and pg_ctl start (the second failed, or ran `pg_ctl reload` into a half-made data
        directory; attack 13b). An flock on ``<parent>/.<data dir name>.dwh-lock`` (released by the kernel
        when the process dies: never stale)."""
        self._make_parent()
        lock = self.data_dir.parent / f".{self.data_dir.name}.dwh-lock"
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise DwhError(f"{lock} is a symbolic link", hint="remove it") from None
            raise _cannot_create(lock, exc) from None
        try:
            deadline = time.monotonic() + LOCK_WAIT
            waiting = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waiting:
                        log(f"waiting for another dwh starting or stopping the cluster in {self.data_dir}")
                        waiting = True
                    if time.monotonic() > deadline:
                        raise DwhError(f"another dwh has been starting or stopping the cluster in "
                                       f"{self.data_dir} for {LOCK_WAIT} s",
                                       hint=f"see {self.logfile}; the lock is {lock}") from None
                    time.sleep(0.1)
            yield
        finally:
            os.close(fd)  # releases the lock

    def init(self, log: Callable[[str], None] = lambda _m: None) -> None:
        self._make_parent()
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise DwhError(f"{self.data_dir} exists, is not empty and is not a PostgreSQL data directory",
                           hint="point DWH_DATA_DIR / --data-dir at an empty or new folder")
        log(f"initializing embedded PostgreSQL cluster in {self.data_dir}")
        # trust only on the unix socket (its directory is the gate); TCP always needs a password
        self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
        lines = ["", CONF_MARKER, "max_worker_processes = 16"]
        libdir = pkglibdir(self.bindir)
        if libdir and (libdir / "pg_cron.so").exists():
            lines += [
                "shared_preload_libraries = 'pg_cron'",
                f"cron.database_name = '{DATABASE}'",
                "cron.use_background_workers = on",
            ]
        # written by us (root or the owner), never through a link; keeps ownership with the service user
        self._append_conf(self.data_dir / "postgresql.conf", "\n".join(lines) + "\n")
        self._write_config(self.requested_port or DEFAULT_PORT, None)

    def start(self, log: Callable[[str], None] = lambda _m: None, listen=UNCHANGED) -> str:
        """Start the cluster (initializing it first if needed); ``listen``: a Listen to open TCP, None
        for socket only, UNCHANGED to keep what the data directory remembers.

        Returns "started", "restarted" (running, but --listen changed) or "running" (already)."""
        with self._locked(log):
            return self._start(log, listen)

    def _start(self, log: Callable[[str], None], listen) -> str:
        if not self.initialized():
            self.init(log=log)
        running = self.running()
        current_port, current_listen = self.port, self.listen
        if not self._managed():
            # a cluster made by an older dwh: trust on 127.0.0.1. Close that now (pg_hba is reloaded
            # at once; listen_addresses needs a restart).
            log(f"securing the embedded cluster in {self.data_dir}: unix socket only, no trust over TCP")
            self._write_config(current_port, None)
            current_listen = None
            if running:
                self._run("pg_ctl", "-D", str(self.data_dir), "reload")
                log("TCP now needs a password; restart to stop listening on localhost: "
                    "dwh db stop && dwh db start")
        if listen is UNCHANGED:
            if self.requested_port and self.requested_port != current_port:
                log(f"warning: DWH_PORT={self.requested_port} ignored: the cluster in {self.data_dir} "
                    f"uses port {current_port} (remembered with it; change it with "
                    f"dwh db start --listen ADDR:PORT)")
            new_port, new_listen = current_port, current_listen
        else:
            new_listen = listen
            new_port = listen.port if listen else current_port
        changed = (new_port, new_listen) != (current_port, current_listen)
        if changed:
            self._write_config(new_port, new_listen)
        self._secure_data_dir()
        if running and not changed:
            self.ensure_database()
            return "running"
        try:
            if running:
                log(f"restarting embedded PostgreSQL to apply the listen setting "
                    f"({new_listen or 'unix socket only'})")
                self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.logfile), "-w", "-t", "60",
                          "-m", "fast", "restart")
                self.ensure_database()
                return "restarted"
            where = f"port {new_port}, " + (f"listening on {new_listen}" if new_listen else "unix socket only")
            log(f"starting embedded PostgreSQL ({where}; data {self.data_dir}, log {self.logfile})")
            self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.logfile), "-w", "-t", "60", "start")
        except DwhError as exc:
            if changed:
                self._keep_previous(exc, current_port, current_listen, running, log)
            elif new_listen:
                exc.hint = (f"{exc.hint}; " if exc.hint else "") + (
                    f"the cluster listens on {new_listen} (remembered in {self.data_dir / DWH_CONF}): "
                    "free that port, or choose another with dwh db start --listen ADDR:PORT, or go back to "
                    "the unix socket only with dwh db start --listen none")
            raise
        self.ensure_database()
        return "started"

    def _keep_previous(self, exc: DwhError, port: int, listen: Listen | None, was_running: bool,
                       log: Callable[[str], None]) -> None:
        """A new listen setting the server could not start with (a port in use: another user's cluster)
        is not kept: the previous one is written back and a cluster that was running runs again with it.
        It used to stay in dwh.conf, the restart having stopped the cluster: every later command failed
        the same way until `dwh db start --listen none` (attack 13b)."""
        self._write_config(port, listen)
        previous = str(listen) if listen else "unix socket only"
        if not was_running:
            note = f"the previous setting ({previous}, port {port}) is kept"
        else:
            log(f"starting embedded PostgreSQL again with its previous setting ({previous}, port {port})")
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.logfile), "-w", "-t", "60", "start")
                self.ensure_database()
                note = f"the cluster runs again with its previous setting ({previous}, port {port})"
            except (DwhError, psycopg.Error) as again:
                note = (f"the previous setting ({previous}, port {port}) is written back, but the cluster did not "
                        f"start with it either: {getattr(again, 'message', again)}")
        exc.hint = "; ".join(part for part in (exc.hint, note) if part)

    def _secure_data_dir(self) -> None:
        # The data dir holds the socket: only its owner may enter it (PostgreSQL itself accepts 0750).
        mode = self.data_dir.stat().st_mode & 0o777
        if mode != 0o700:
            os.chmod(self.data_dir, 0o700)

    def ensure_running(self, log: Callable[[str], None] = lambda _m: None) -> None:
        self.start(log=log)

    def stop(self) -> bool:
        """Stop the cluster. Returns False when it was not running."""
        if not self.running():
            return False
        with self._locked():
            if not self.running():
                return False
            self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-t", "60", "-m", "fast", "stop")
        return True

    def ensure_database(self) -> None:
        try:
            conn = psycopg.connect(self.conninfo("postgres"), autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            # pg_ctl says it runs, but nothing answers on its socket: a server killed (kill -9) whose
            # process is not reaped yet, or one still shutting down
            text = " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
            raise ConnectError(f"the embedded cluster in {self.data_dir} does not answer: {text}",
                               hint=f"see {self.logfile}; if its server was killed, try again in a few "
                                    "seconds or run dwh db stop && dwh db start") from None
        with conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


def _cannot_create(path: Path, exc: OSError) -> DwhError:
    """A data directory dwh may not create (HOME not writable, a read-only or full file system): say
    where and what to set instead (it said only "Permission denied: /.local")."""
    return DwhError(f"cannot create {path} for the embedded cluster: {exc.strerror or exc}",
                    hint="set DWH_DATA_DIR (or --data-dir) to a folder you may write, or use an existing "
                         "server: --dsn / DWH_DSN")


def _conf_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "''")
