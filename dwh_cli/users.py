"""``dwh db user add | list | remove``: LOGIN roles for people and tools, members of the warehouse's
group roles (created by migrations/0001_engine.sql):

- ``analyst`` -> ``analyst_role``: reads gold and the areas' star schemas only;
- ``etl``     -> ``etl_service``: runs pipelines, cannot change the registry.

Passwords are hashed on the client (scram-sha-256, libpq's PQencryptPasswordConn): the clear text never
reaches the server or its log."""

from __future__ import annotations

import re
import secrets

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .config import connect
from .errors import DwhError, from_psycopg

KINDS = {"analyst": "analyst_role", "etl": "etl_service"}
GROUPS = tuple(KINDS.values())
RESERVED = {"postgres", "dwh_owner", "public", "none", "current_user", "session_user", "current_role",
            *GROUPS}
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")


def validate_name(name: str, *, removing: bool = False) -> str:
    if not NAME_RE.match(name):
        raise DwhError(f"invalid user name {name!r}",
                       hint="1-63 characters: letters, digits, _ . - (starting with a letter or _)")
    if name.lower().startswith("pg_") or name.lower() in RESERVED:
        raise DwhError(f"user name {name!r} is reserved",
                       hint=("dwh db user remove removes only the logins dwh db user add made (dwh db user list)"
                             if removing else "pick another name"))
    return name


def generate_password() -> str:
    return secrets.token_urlsafe(18)  # 24 characters, 144 bits


def _require_groups(conn) -> None:
    have = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)",
                                       (list(GROUPS),))}
    missing = [g for g in GROUPS if g not in have]
    if missing:
        raise DwhError(f"role {missing[0]} does not exist in this cluster",
                       hint="run dwh migrate first (migrations/0001_engine.sql creates the roles)")


def add_user(conninfo: str, name: str, kind: str, password: str) -> dict:
    """Create LOGIN role ``name`` with ``password`` (scram), member of the group role of ``kind``."""
    validate_name(name)
    if kind not in KINDS:
        raise DwhError(f"unknown role kind {kind!r}", hint="use one of: " + ", ".join(KINDS))
    if not password:
        raise DwhError("empty password")
    group = KINDS[kind]
    with connect(conninfo) as conn:
        try:
            _require_groups(conn)
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
                raise DwhError(f"role {name!r} already exists",
                               hint=f"dwh db user remove {name} first, or pick another name")
            verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256")
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                                 "NOBYPASSRLS INHERIT PASSWORD {} IN ROLE {}").format(
                sql.Identifier(name), sql.Literal(verifier.decode()), sql.Identifier(group)))
        except psycopg.Error as exc:
            raise from_psycopg(exc) from exc
    return {"user": name, "role": kind, "member_of": group}


def list_users(conninfo: str) -> list[dict]:
    """LOGIN roles that are members of analyst_role or etl_service."""
    with connect(conninfo) as conn, conn.cursor(row_factory=dict_row) as cur:
        try:
            cur.execute("""
                SELECT r.rolname AS user,
                       CASE g.rolname WHEN 'analyst_role' THEN 'analyst' ELSE 'etl' END AS role,
                       g.rolname AS member_of,
                       r.rolcanlogin AS can_login,
                       r.rolvaliduntil AS valid_until
                FROM pg_roles r
                JOIN pg_auth_members m ON m.member = r.oid
                JOIN pg_roles g ON g.oid = m.roleid AND g.rolname = ANY(%s)
                WHERE r.rolcanlogin
                ORDER BY r.rolname, g.rolname""", (list(GROUPS),))
            return cur.fetchall()
        except psycopg.Error as exc:
            raise from_psycopg(exc) from exc


def remove_user(conninfo: str, name: str) -> dict:
    """Drop a login made by ``add_user`` (only members of analyst_role/etl_service, never a superuser, nor
    a role with CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS or owning a schema, a database or objects
    of the warehouse's schemas); its sessions are ended, objects it owns elsewhere in this database pass
    to the current user."""
    validate_name(name, removing=True)
    with connect(conninfo) as conn:
        try:
            row = conn.execute("""
                SELECT r.rolsuper, EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                                           WHERE m.member = r.oid AND g.rolname = ANY(%s)),
                       array_remove(ARRAY[CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
                                          CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
                                          CASE WHEN r.rolreplication THEN 'REPLICATION' END,
                                          CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END], NULL),
                       -- relations and routines it owns in the warehouse's schemas (those granted to
                       -- the dwh roles, and archive)
                       (SELECT count(*) FROM (
                            SELECT c.relnamespace AS nsp FROM pg_class AS c WHERE c.relowner = r.oid
                            UNION ALL
                            SELECT p.pronamespace FROM pg_proc AS p WHERE p.proowner = r.oid) AS o
                        JOIN pg_namespace AS n ON n.oid = o.nsp
                        WHERE n.nspname = 'archive'
                           OR EXISTS (SELECT 1 FROM aclexplode(n.nspacl) AS a
                                      WHERE a.grantee IN (SELECT g.oid FROM pg_roles AS g WHERE g.rolname = ANY(%s)))),
                       (SELECT string_agg(n.nspname, ', ' ORDER BY n.nspname) FROM pg_namespace AS n
                        WHERE n.nspowner = r.oid),
                       EXISTS (SELECT 1 FROM pg_database AS db WHERE db.datdba = r.oid)
                FROM pg_roles r WHERE r.rolname = %s""", (list(GROUPS), list(GROUPS), name)).fetchone()
            if row is None:
                raise DwhError(f"no user {name!r}", hint="dwh db user list shows them")
            if row[0] or not row[1]:
                raise DwhError(f"{name!r} is not a dwh user (not a member of analyst_role or etl_service)",
                               hint="dwh db user remove only removes logins made by dwh db user add")
            # A login made by `dwh db user add` has none of these attributes and owns nothing in the
            # warehouse (neither role may create objects there): a role that does was made otherwise (an
            # owner, an admin given etl_service too). Removing it would hand the warehouse's schemas and
            # tables to the current user, silently (attack 9b). Objects elsewhere still pass to the
            # current user, as before.
            attrs, owned, schemas, owns_db = row[2], row[3], row[4], row[5]
            if attrs or owned or schemas or owns_db:
                what = [f"has {', '.join(attrs)}"] if attrs else []
                if schemas:
                    what.append(f"owns schema(s) {schemas}")
                if owned:
                    what.append(f"owns {owned} relation(s) or routine(s) in the warehouse's schemas")
                if owns_db:
                    what.append("owns a database")
                raise DwhError(f"{name!r} was not made by dwh db user add: it {' and '.join(what)}; not removed",
                               hint=f"reassign what it owns (REASSIGN OWNED BY {sql.Identifier(name).as_string(conn)} "
                                    "TO ...) and drop it yourself, as a superuser")
            ident = sql.Identifier(name)
            conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(ident))
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
            with conn.transaction():
                conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(ident))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
                conn.execute(sql.SQL("DROP ROLE {}").format(ident))
        except psycopg.Error as exc:
            raise from_psycopg(exc) from exc
    return {"user": name, "removed": True}
