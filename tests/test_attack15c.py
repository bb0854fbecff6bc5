"""Attack 15c: is the citizen area's gold right? An independent oracle over several simulated days (seed 003).

The source is driven as the portal would drive it: rows written into citizen_src.* (users, services,
contents: INSERT, UPDATE, DELETE and re-INSERT) and the web-analytics collector's JSON payloads appended
to citizen_src.analytics_payloads, with a deterministic random generator (random.Random, fixed seed)
choosing the day's changes: new queries and content events, late events with old times, an event
re-delivered with a correction (the same id in a later payload, and twice in one window), a payload
written and deleted before any run saw it, bad events (and a bad event corrected by a later delivery, a
good event re-delivered bad), a content event that arrives before its content, events of a user who
arrives the next day, users moving (SCD2: type, state, district; Type 1: language), one three times in one
window, a change stamped late, a bad user row corrected the next day, services re-categorised and renamed,
contents re-sourced and retitled, and a JSON Lines file of query events landed by `dwh load`. `daily` runs
after each day.

After every day the gold layer is compared with the same figures computed here in plain Python / SQL from
the source's state, never from the pipeline's tables:

- the dimensions: every row state present when a run started (oracle.*_states, as a CDC log would have
  them); the expected SCD2 versions follow from those states ordered by updated_at, consecutive states with
  the same Type 2 values being one version, Type 1 columns the latest state's in every version, invalid
  states (seed 003's vocabularies and ranges) ignored;
- the events: every element the collector delivered, in delivery order; an event is the last valid
  delivery of its id (the typing rules written here from seed 003: the vocabularies, 1-5 ratings, 0-100
  scroll depth, ISO 8601 times read in Asia/Kolkata when zone-less, ...); the facts hold exactly those,
  keyed by the date and second of day in India, the IP reduced to its /24 or /48, the user agent to device,
  browser and OS (classified here by a table of the agents used), each pointing at the service / user /
  content version valid at the event (the first version when the event is older);
- the marts of docs/CITIZEN.md: dm_service_analytics, dm_content_analytics, dm_system_analytics and
  dm_user_analytics (counts, averages, bounce rate, engagement) from those facts;
- quarantine: the open entries of the two event tables are exactly the ids whose last delivery is bad,
  and of silver.citizen_users exactly the users whose current state is bad; every delivered event id is in
  gold or in quarantine.

Then: a rerun changes nothing, a restatement reproduces gold; a rebuild of the area should too (xfail,
not run: 190 s).

A test whose docstring says DEFECT exposed one (fixed unless marked xfail); the others held and stay as
regression tests. The days are simulated once per module (fixture `world`: scale 0.01, 3 generated days,
then DAYS simulated ones).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import random
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest

from conftest import cloned_database, disable_other_areas, make_conninfo
from oracle_common import rows, run_daily, scalar
from test_load_files import dwh, ok, write

SEED = 15_003
DAYS = 3
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))

# the user agents the portal sees, and what each is (device, browser, OS): written here, not read from the
# warehouse's parsers
AGENTS = {
    "Mozilla/5.0 (Linux; Android 13; SM-A536E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36":
        ("mobile", "chrome", "android"),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36":
        ("desktop", "chrome", "windows"),
    "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1":
        ("tablet", "safari", "ios"),
    "python-requests/2.31.0": ("unknown", "api_client", "other"),
    None: ("unknown", "unknown", "unknown"),
}
# the generator's other agents (procedures/citizen_src/_simulate.sql), classified by hand
GENERATED_AGENTS = {
    "Mozilla/5.0 (Linux; Android 12; Redmi Note 11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Mobile Safari/537.36":
        ("mobile", "chrome", "android"),
    "Mozilla/5.0 (Linux; Android 13; SM-M336B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36":
        ("mobile", "samsung", "android"),
    "Mozilla/5.0 (Linux; U; Android 10; en-US; RMX2185) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 UCBrowser/13.4.0.1306 Mobile Safari/537.36":
        ("mobile", "uc", "android"),
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1":
        ("mobile", "safari", "ios"),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61":
        ("desktop", "edge", "windows"),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0": ("desktop", "firefox", "windows"),
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15":
        ("desktop", "safari", "macos"),
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36": ("desktop", "chrome", "linux"),
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1":
        ("tablet", "safari", "ios"),
    "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36":
        ("tablet", "chrome", "android"),
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": ("bot", "other", "other"),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0":
        ("desktop", "opera", "windows"),
    "okhttp/4.12.0": ("unknown", "api_client", "other"),
    "Java/17.0.8": ("unknown", "api_client", "other"),
    "curl/8.4.0": ("unknown", "api_client", "other"),
}
IPS = ["49.36.12.7", "103.21.244.9", "2401:4900:1c20:abcd::1", None, "not-an-ip"]



def half_up(value, places):
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------------------------------
# the oracle: the source's reference rows
# ---------------------------------------------------------------------------------------------------

ENTITIES = {
    # table: (key, type 2 columns, type 1 columns, validity)
    "users": ("user_id", ["user_type", "location_state", "location_district"], ["language_preference", "registration_date"],
              lambda r: r["user_type"] in ("citizen", "admin", "api_client")
              and (r["language_preference"] is None or re.fullmatch(r"[a-z]{2,3}", r["language_preference"]) is not None)),
    "services": ("service_id", ["service_category", "department_id", "priority_level", "service_type", "data_source"],
                 ["service_name", "is_active"],
                 lambda r: None not in (r["service_name"], r["service_category"], r["department_id"], r["data_source"])
                 and r["priority_level"] in (1, 2, 3, 4, 5) and r["service_type"] in ("api", "scraped", "document")),
    "contents": ("content_id", ["content_type", "language_code", "source_name", "service_id"], ["title", "is_active"],
                 lambda r: r["content_type"] in ("procedure", "document", "faq", "article")
                 and r["title"] is not None and len(r["title"]) <= 500
                 and r["language_code"] is not None and re.fullmatch(r"[a-z]{2,3}", r["language_code"]) is not None
                 and r["source_name"] is not None),
}
DIM_COLUMNS = {  # the dimension's names of the source's columns
    "users": ("citizen.dim_user", {}),
    "services": ("citizen.dim_service", {}),
    "contents": ("citizen.dim_content", {"language_code": "language", "source_name": "content_source"}),
}


class Oracle:
    """What the warehouse should hold, from the source's states and the collector's deliveries."""

    def __init__(self, conn):
        self.conn = conn
        self.states = defaultdict(dict)    # table -> {(key, arrived): row dict}
        self.deliveries = []               # (feed, element, run) in delivery order
        self.run = 0                       # the run the current snapshot / deliveries go to

    def snapshot(self):
        """Every row state that reached the reference tables since the last snapshot (= what the next run
        extracts)."""
        for table, (key, t2, t1, _ok) in ENTITIES.items():
            cols = [key, "updated_at", "_dwh_arrived_at", *t2, *t1]
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT {', '.join(cols)} FROM citizen_src.{table}")
                for r in cur.fetchall():
                    d = dict(zip(cols, r))
                    self.states[table].setdefault((d[key], d["_dwh_arrived_at"]), dict(d, _run=self.run))

    def deliver_payloads(self, after_id):
        """The payloads written since payload after_id, in the order the ingest step reads them."""
        for feed, payload in rows(self.conn, """SELECT feed, payload FROM citizen_src.analytics_payloads
                                                WHERE payload_id > %s ORDER BY _dwh_arrived_at, payload_id""", (after_id,)):
            elems = payload if isinstance(payload, list) else (payload.get("data") if isinstance(payload, dict) else None)
            for e in elems if isinstance(elems, list) else []:
                if isinstance(e, dict):
                    self.deliveries.append((feed, e, self.run))

    # --- dimensions ---------------------------------------------------------------------------------

    def versions(self, table):
        """{key: [(valid_from, valid_to, {col: value})]} from the valid states."""
        key, t2, t1, valid = ENTITIES[table]
        by_key = defaultdict(list)
        for st in self.states[table].values():
            if valid(st):
                by_key[st[key]].append(st)
        out = {}
        for k, sts in by_key.items():
            sts.sort(key=lambda s: (s["updated_at"], s["_dwh_arrived_at"]))
            vs = []
            for s in sts:
                if vs and [vs[-1][2][c] for c in t2] == [s[c] for c in t2]:
                    continue
                if vs:
                    vs[-1][1] = s["updated_at"]
                vs.append([s["updated_at"], None, {c: s[c] for c in t2}])
            latest = sts[-1]
            for v in vs:
                v[2].update({c: latest[c] for c in t1})
            if table in self.inferred and k in self.inferred[table] and self.inferred[table][k] < sts[0]["_run"]:
                vs[0][0] = None    # docs/ARCHITECTURE.md: an inferred member is valid from -infinity, completed in place
            out[k] = vs
        return out

    def infer(self):
        """{table: {key: first run with a valid event naming it}} (users and services: inferred when unknown)."""
        self.inferred = {"users": {}, "services": {}}
        for feed, e, run in self.deliveries:
            typed = type_query(e) if feed == "query_logs" else type_content(e)
            if typed is None:
                continue
            for table, k in (("users", typed["user_id"]), ("services", typed["service_id"])):
                if k is not None:
                    self.inferred[table][k] = min(run, self.inferred[table].get(k, run))

    def version_at(self, table, key, at):
        vs = self.all_versions[table].get(key)
        if not vs:
            return None
        best = [v for v in vs if v[0] is None or v[0] <= at]
        return (best[-1] if best else vs[0])[0]

    # --- events -------------------------------------------------------------------------------------

    def events(self):
        """{feed: {id: (last delivery valid?, typed row or None, last valid typed row or None)}}."""
        out = {"query_logs": {}, "content_events": {}}
        for feed, e, _run in self.deliveries:
            idf = "query_id" if feed == "query_logs" else "event_id"
            eid = as_int(e.get(idf))
            if eid is None:
                continue
            typed = type_query(e) if feed == "query_logs" else type_content(e)
            prev = out[feed].get(eid)
            last_good = typed if typed is not None else (prev[2] if prev else None)
            out[feed][eid] = (typed is not None, typed, last_good)
        return out


INT_RE = re.compile(r"\s*[+-]?\d+\s*")
ISO_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?")


def as_int(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and INT_RE.fullmatch(v):
        return int(v)
    return None


def text(v):
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def as_time(v):
    s = text(v)
    if s is None or not ISO_RE.fullmatch(s):
        return None
    t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=IST)
    if not dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc) <= t < dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1):
        return None
    return t


def network(v):
    s = text(v)
    try:
        ip = ipaddress.ip_address(s)
    except (TypeError, ValueError):
        return None
    return ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 48}", strict=False)


def optional(e, field, lo=None, hi=None):
    """(ok, value) of an optional integer field."""
    v = e.get(field)
    if v is None or (isinstance(v, str) and not v.strip()):
        return True, None
    n = as_int(v)
    if n is None or (lo is not None and n < lo) or (hi is not None and n > hi):
        return False, None
    return True, n


def common(e):
    at = as_time(e.get("occurred_at"))
    service = as_int(e.get("service_id"))
    user_ok, user = optional(e, "user_id")
    session = text(e.get("session_id"))
    if at is None or service is None or not user_ok or session is None or len(session) > 255:
        return None
    local = at.astimezone(IST)
    return {"at": at, "date_key": int(local.strftime("%Y%m%d")), "time_key": int(local.strftime("%H%M%S")),
            "service_id": service, "user_id": user, "session_id": session, "ip_network": network(e.get("ip_address")),
            "agent": AGENTS.get(e.get("user_agent")) or GENERATED_AGENTS[e.get("user_agent")]}


def type_query(e):
    c = common(e)
    qtype = (text(e.get("query_type")) or "").lower()
    lang = (text(e.get("language_code")) or "").lower()
    ok_rt, rt = optional(e, "response_time_ms", 0, 600000)
    ok_rc, rc = optional(e, "result_count", 0)
    ok_sat, sat = optional(e, "satisfaction_score", 1, 5)
    success = e.get("success")
    success = {"true": True, "false": False}.get(str(success).lower()) if success is not None else None
    if (c is None or qtype not in ("search", "status_check", "verification", "information")
            or not re.fullmatch(r"[a-z]{2,3}", lang) or not (ok_rt and ok_rc and ok_sat) or success is None):
        return None
    c.update(query_type=qtype, language_code=lang, response_time_ms=rt, result_count=rc, satisfaction=sat,
             success=success)
    return c


def type_content(e):
    c = common(e)
    content = as_int(e.get("content_id"))
    action = (text(e.get("action_type")) or "").lower()
    ok_d, dur = optional(e, "duration_seconds", 0)
    ok_s, scroll = optional(e, "scroll_depth_percent", 0, 100)
    ok_r, rank = optional(e, "search_rank", 1)
    ok_u, rating = optional(e, "rating", 1, 5)
    ok_q, qid = optional(e, "query_id")
    if (c is None or content is None or action not in ("view", "download", "share", "bookmark")
            or not (ok_d and ok_s and ok_r and ok_u and ok_q)):
        return None
    c.update(content_id=content, action_type=action, duration=dur, scroll=scroll, rank=rank, rating=rating, query_id=qid)
    return c


# ---------------------------------------------------------------------------------------------------
# the comparison
# ---------------------------------------------------------------------------------------------------

def expected(oracle):
    """{check: set of rows} computed from the oracle alone."""
    conn = oracle.conn
    oracle.infer()
    oracle.all_versions = {t: oracle.versions(t) for t in ENTITIES}
    exp = {}
    # dimensions
    for table, (key, t2, t1, _v) in ENTITIES.items():
        cols = t2 + t1
        exp[f"dim_{table}"] = {(k, vf, vt, *(v[c] for c in cols))
                               for k, vs in oracle.all_versions[table].items() for vf, vt, v in vs}
    # events
    ev = oracle.events()
    contents = oracle.all_versions["contents"]
    queries, usages = {}, {}
    for qid, (_ok, _t, good) in ev["query_logs"].items():
        if good is not None:
            queries[qid] = good
    for uid, (_ok, _t, good) in ev["content_events"].items():
        if good is not None and good["content_id"] in contents:   # an event of an unknown content waits
            usages[uid] = good
    exp["fct_service_queries"] = {
        (qid, q["date_key"], q["time_key"], q["service_id"], q["user_id"], q["query_type"], q["language_code"],
         q["response_time_ms"], q["success"], q["result_count"], q["satisfaction"], q["session_id"], q["ip_network"],
         *q["agent"], q["at"]) for qid, q in queries.items()}
    exp["fct_content_usage"] = {
        (uid, u["date_key"], u["time_key"], u["content_id"], u["service_id"], u["user_id"], u["action_type"], u["duration"],
         u["scroll"], u["rank"], u["rating"], u["query_id"], u["session_id"], u["ip_network"], *u["agent"], u["at"])
        for uid, u in usages.items()}
    for q in queries.values():
        q["s_from"] = oracle.version_at("services", q["service_id"], q["at"])
        q["u_from"] = oracle.version_at("users", q["user_id"], q["at"]) if q["user_id"] is not None else None
    for u in usages.values():
        u["c_from"] = oracle.version_at("contents", u["content_id"], u["at"])
        u["s_from"] = oracle.version_at("services", u["service_id"], u["at"])
        u["u_from"] = oracle.version_at("users", u["user_id"], u["at"]) if u["user_id"] is not None else None
    exp["fact_versions"] = ({("q", qid, q["s_from"], q["u_from"], None) for qid, q in queries.items()}
                            | {("c", uid, u["c_from"], u["s_from"], u["u_from"]) for uid, u in usages.items()})
    # quarantine and accounting
    exp["quarantine_queries"] = {str(k) for k, (ok_, _t, _g) in ev["query_logs"].items() if not ok_}
    exp["quarantine_events"] = {str(k) for k, (ok_, _t, _g) in ev["content_events"].items() if not ok_}
    bad_users = set()
    for table in ("users",):
        key, _t2, _t1, valid = ENTITIES[table]
        current = {}
        for (k, arr), st in oracle.states[table].items():
            if k not in current or arr > current[k]["_dwh_arrived_at"]:
                current[k] = st
        live = {r[0] for r in rows(conn, "SELECT user_id FROM citizen_src.users")}
        bad_users = {str(k) for k, st in current.items() if not valid(st) and k in live}
    exp["quarantine_users"] = bad_users
    # every delivered id: in gold (its last valid delivery) and / or in quarantine (its last delivery is bad);
    # an event of a content not known yet waits (neither)
    exp["accounting"] = ({("q", k, int(g is not None) + int(not o)) for k, (o, _t, g) in ev["query_logs"].items()}
                         | {("c", k, int(g is not None and g["content_id"] in contents) + int(not o))
                            for k, (o, _t, g) in ev["content_events"].items()})
    marts(exp, queries, usages)
    return exp


def marts(exp, queries, usages):
    # dm_service_analytics: service version x day
    svc = defaultdict(lambda: {"q": [], "c": []})
    for q in queries.values():
        svc[(q["date_key"], q["service_id"], q["s_from"])]["q"].append(q)
    for u in usages.values():
        svc[(u["date_key"], u["service_id"], u["s_from"])]["c"].append(u)
    out = set()
    for k, g in svc.items():
        qs, cs = g["q"], g["c"]
        rts = [q["response_time_ms"] for q in qs if q["response_time_ms"] is not None]
        sats = [q["satisfaction"] for q in qs if q["satisfaction"] is not None]
        visitors = {("u", e["user_id"]) if e["user_id"] is not None else ("s", e["session_id"]) for e in qs + cs}
        out.add((*k, len(qs), sum(q["success"] for q in qs), sum(not q["success"] for q in qs),
                 half_up(Decimal(sum(rts)) / len(rts), 2) if rts else None, len(visitors),
                 half_up(Decimal(sum(sats)) / len(sats), 2) if sats else None,
                 sum(c["action_type"] == "view" for c in cs), sum(c["action_type"] == "download" for c in cs)))
    exp["dm_service_analytics"] = out
    # dm_system_analytics: day x hour
    hours = defaultdict(list)
    for q in queries.values():
        hours[(q["date_key"], q["time_key"] // 10000 * 10000)].append(q)
    exp["dm_system_analytics"] = {
        (*k, len(qs),
         half_up(Decimal(sum(r)) / len(r), 2) if (r := [q["response_time_ms"] for q in qs if q["response_time_ms"] is not None]) else None,
         half_up(Decimal(100 * sum(not q["success"] for q in qs)) / len(qs), 2), half_up(Decimal(len(qs)) / 3600, 4))
        for k, qs in hours.items()}
    # sessions of a day: every event (query or content) of the session that day
    per_session = defaultdict(int)
    for e in list(queries.values()) + list(usages.values()):
        per_session[(e["date_key"], e["session_id"])] += 1
    # dm_content_analytics: content version x day
    cnt = defaultdict(list)
    for u in usages.values():
        cnt[(u["date_key"], u["content_id"], u["c_from"])].append(u)
    out = set()
    for k, us in cnt.items():
        views = [u for u in us if u["action_type"] == "view"]
        durs = [u["duration"] for u in views if u["duration"] is not None]
        ranks = [u["rank"] for u in us if u["rank"] is not None]
        ratings = [u["rating"] for u in us if u["rating"] is not None]
        bounces = sum(per_session[(u["date_key"], u["session_id"])] == 1 for u in views)
        out.add((*k, len(views), sum(u["action_type"] == "download" for u in us), sum(u["action_type"] == "share" for u in us),
                 sum(u["action_type"] == "bookmark" for u in us),
                 int(half_up(Decimal(sum(durs)) / len(durs), 0)) if durs else None,
                 half_up(Decimal(100 * bounces) / len(views), 2) if views else None,
                 int(half_up(Decimal(sum(ranks)) / len(ranks), 0)) if ranks else None,
                 half_up(Decimal(sum(ratings)) / len(ratings), 2) if ratings else None))
    exp["dm_content_analytics"] = out
    # dm_user_analytics: user version x day (registered users)
    usr = defaultdict(lambda: {"q": [], "c": []})
    for q in queries.values():
        if q["user_id"] is not None:
            usr[(q["date_key"], q["user_id"], q["u_from"])]["q"].append(q)
    for u in usages.values():
        if u["user_id"] is not None:
            usr[(u["date_key"], u["user_id"], u["u_from"])]["c"].append(u)
    out = set()
    for k, g in usr.items():
        sessions = defaultdict(list)   # session -> [(start, end)]
        for q in g["q"]:
            sessions[q["session_id"]].append((q["at"], q["at"]))
        for u in g["c"]:
            sessions[u["session_id"]].append((u["at"], u["at"] + dt.timedelta(seconds=u["duration"] or 0)))
        lengths = [(max(e for _s, e in v) - min(s for s, _e in v)).total_seconds() for v in sessions.values()]
        avg = int(half_up(Decimal(str(sum(lengths))) / len(lengths), 0))
        nq, nc = len(g["q"]), len(g["c"])
        score = half_up(Decimal("0.4") * min(nq, 10) / 10 + Decimal("0.3") * min(nc, 10) / 10
                        + Decimal("0.3") * min(avg, 600) / 600, 2)
        out.add((*k, len(sessions), nq, nc, avg, score))
    exp["dm_user_analytics"] = out


ACTUAL = {
    "dim_users": """SELECT user_id, NULLIF(valid_from, '-infinity'), valid_to, user_type, location_state, location_district, language_preference,
                           registration_date FROM citizen.dim_user WHERE NOT is_inferred""",
    "dim_services": """SELECT service_id, NULLIF(valid_from, '-infinity'), valid_to, service_category, department_id, priority_level, service_type,
                              data_source, service_name, is_active FROM citizen.dim_service WHERE NOT is_inferred""",
    "dim_contents": """SELECT content_id, NULLIF(valid_from, '-infinity'), valid_to, content_type, language, content_source, service_id, title, is_active
                       FROM citizen.dim_content WHERE NOT is_inferred""",
    "fct_service_queries": """
        SELECT f.query_id, f.date_key, f.time_key, s.service_id, u.user_id, t.query_type, l.language_code, f.response_time_ms,
               f.success_flag, f.result_count, f.user_satisfaction_score, f.session_id, f.ip_network, f.device_type,
               f.browser_type, f.os_type, f.queried_at
        FROM citizen.fct_service_queries AS f JOIN citizen.dim_service AS s USING (service_key)
        LEFT JOIN citizen.dim_user AS u USING (user_key) JOIN citizen.dim_query_type AS t USING (query_type_key)
        JOIN citizen.dim_language AS l USING (language_key)""",
    "fct_content_usage": """
        SELECT f.usage_id, f.date_key, f.time_key, c.content_id, s.service_id, u.user_id, f.action_type, f.duration_seconds,
               f.scroll_depth_percent, f.search_rank_position, f.user_rating, f.query_id, f.session_id, f.ip_network,
               f.device_type, f.browser_type, f.os_type, f.used_at
        FROM citizen.fct_content_usage AS f JOIN citizen.dim_content AS c USING (content_key)
        JOIN citizen.dim_service AS s USING (service_key) LEFT JOIN citizen.dim_user AS u USING (user_key)""",
    "fact_versions": """
        SELECT 'q', f.query_id, NULLIF(s.valid_from, '-infinity'), NULLIF(u.valid_from, '-infinity'), NULL::timestamptz
        FROM citizen.fct_service_queries AS f JOIN citizen.dim_service AS s USING (service_key)
        LEFT JOIN citizen.dim_user AS u USING (user_key)
        UNION ALL
        SELECT 'c', f.usage_id, NULLIF(c.valid_from, '-infinity'), NULLIF(s.valid_from, '-infinity'), NULLIF(u.valid_from, '-infinity')
        FROM citizen.fct_content_usage AS f JOIN citizen.dim_content AS c USING (content_key)
        JOIN citizen.dim_service AS s USING (service_key) LEFT JOIN citizen.dim_user AS u USING (user_key)""",
    "quarantine_queries": """SELECT DISTINCT record_key FROM dwh_etl.quarantine
                             WHERE target_table = 'silver.citizen_query_logs' AND resolved_at IS NULL""",
    "quarantine_events": """SELECT DISTINCT record_key FROM dwh_etl.quarantine
                            WHERE target_table = 'silver.citizen_content_events' AND resolved_at IS NULL""",
    "quarantine_users": """SELECT DISTINCT record_key FROM dwh_etl.quarantine
                           WHERE target_table = 'silver.citizen_users' AND resolved_at IS NULL""",
    "dm_service_analytics": """
        SELECT m.date_key, s.service_id, NULLIF(s.valid_from, '-infinity'), m.total_queries, m.successful_queries, m.failed_queries,
               m.avg_response_time_ms, m.unique_users, m.satisfaction_score, m.content_views, m.content_downloads
        FROM citizen.dm_service_analytics AS m JOIN citizen.dim_service AS s USING (service_key)""",
    "dm_system_analytics": """SELECT date_key, time_key, total_requests, avg_response_time_ms, error_rate, throughput_rps
                              FROM citizen.dm_system_analytics""",
    "dm_content_analytics": """
        SELECT m.date_key, c.content_id, NULLIF(c.valid_from, '-infinity'), m.view_count, m.download_count, m.share_count, m.bookmark_count,
               m.avg_view_duration_seconds, m.bounce_rate, m.search_rank_position, m.user_rating
        FROM citizen.dm_content_analytics AS m JOIN citizen.dim_content AS c USING (content_key)""",
    "dm_user_analytics": """
        SELECT m.date_key, u.user_id, NULLIF(u.valid_from, '-infinity'), m.session_count, m.total_queries, m.content_actions,
               m.avg_session_duration_seconds, m.engagement_score
        FROM citizen.dm_user_analytics AS m JOIN citizen.dim_user AS u USING (user_key)""",
}
ACCOUNTING = """
    WITH q AS (SELECT DISTINCT target_table, record_key FROM dwh_etl.quarantine WHERE resolved_at IS NULL)
    SELECT 'q', k, (f.query_id IS NOT NULL)::int + (q.record_key IS NOT NULL)::int
    FROM unnest(%(q)s::bigint[]) AS k LEFT JOIN citizen.fct_service_queries AS f ON f.query_id = k
    LEFT JOIN q ON q.target_table = 'silver.citizen_query_logs' AND q.record_key = k::text
    UNION ALL
    SELECT 'c', k, (f.usage_id IS NOT NULL)::int + (q.record_key IS NOT NULL)::int
    FROM unnest(%(c)s::bigint[]) AS k LEFT JOIN citizen.fct_content_usage AS f ON f.usage_id = k
    LEFT JOIN q ON q.target_table = 'silver.citizen_content_events' AND q.record_key = k::text"""


def normalise(v):
    if isinstance(v, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return str(v)
    return v


def compare(oracle):
    """{check: (missing from gold, unexpected in gold)} for every check that differs."""
    conn = oracle.conn
    exp = expected(oracle)
    found = {}
    for name, want in exp.items():
        if name == "accounting":
            got = set(rows(conn, ACCOUNTING, {"q": [k for f, k, _ in want if f == "q"],
                                              "c": [k for f, k, _ in want if f == "c"]}))
        else:
            got = rows(conn, ACTUAL[name])
            got = {r[0] if name.startswith("quarantine") else r for r in got}
        want = {tuple(normalise(x) for x in r) if isinstance(r, tuple) else r for r in want}
        got = {tuple(normalise(x) for x in r) if isinstance(r, tuple) else r for r in got}
        if want != got:
            found[name] = (sorted(want - got, key=repr)[:6], sorted(got - want, key=repr)[:6])
    return found


def gold_state(conn):
    return {name: sorted(rows(conn, sql), key=repr) for name, sql in ACTUAL.items() if not name.startswith("quarantine")}


# ---------------------------------------------------------------------------------------------------
# the portal
# ---------------------------------------------------------------------------------------------------

class Portal:
    """The operational system and its collector: writes the day's changes into citizen_src."""

    def __init__(self, conn, dsn, tmp, rng, first_day):
        self.conn, self.dsn, self.tmp, self.rng, self.first_day = conn, dsn, tmp, rng, first_day
        self.next_query = 900_000_000
        self.next_event = 950_000_000
        self.next_user = scalar(conn, "SELECT max(user_id) FROM citizen_src.users") + 1000
        self.next_content = scalar(conn, "SELECT max(content_id) FROM citizen_src.contents") + 1000
        self.sent = {}   # id -> element, the last one sent
        self.late_users = []
        self.notes = defaultdict(dict)

    def ids(self, sql):
        return [r[0] for r in rows(self.conn, sql)]

    def users(self):
        return self.ids("SELECT user_id FROM citizen_src.users WHERE user_type IN ('citizen', 'admin', 'api_client') ORDER BY 1")

    def services(self):
        return self.ids("SELECT service_id FROM citizen_src.services ORDER BY 1")

    def contents(self):
        return self.ids("SELECT content_id FROM citizen_src.contents WHERE content_type IS NOT NULL ORDER BY 1")

    def at(self, day, hour, minute=0, second=0):
        """A time on the IST day of simulated day `day`."""
        return dt.datetime.combine(self.first_day + dt.timedelta(days=day), dt.time(hour, minute, second), IST)

    def session(self):
        user = self.rng.choice(self.users()) if self.rng.random() < 0.6 else None
        return {"user_id": user, "session_id": f"a15c-{self.rng.randrange(10**9)}",
                "ip_address": self.rng.choice(IPS), "user_agent": self.rng.choice(list(AGENTS))}

    def query(self, at, sess, **over):
        qid = over.pop("query_id", None) or self.next_query
        if qid == self.next_query:
            self.next_query += 1
        e = {"query_id": qid, "occurred_at": at.isoformat(timespec="milliseconds"),
             "service_id": self.rng.choice(self.services()), "user_id": sess["user_id"], "session_id": sess["session_id"],
             "query_type": self.rng.choice(["search", "information", "status_check", "verification"]),
             "language_code": self.rng.choice(["hi", "en", "ta", "bn"]),
             "response_time_ms": self.rng.choice([None, 120, 480, 2500]), "success": self.rng.random() < 0.85,
             "result_count": self.rng.choice([None, 0, 3, 12]), "satisfaction_score": self.rng.choice([None, 2, 4, 5]),
             "ip_address": sess["ip_address"], "user_agent": sess["user_agent"]}
        e.update(over)
        self.sent[("q", qid)] = e
        return e

    def usage(self, at, sess, content=None, **over):
        eid = over.pop("event_id", None) or self.next_event
        if eid == self.next_event:
            self.next_event += 1
        action = self.rng.choice(["view", "view", "view", "download", "share", "bookmark"])
        e = {"event_id": eid, "occurred_at": at.isoformat(timespec="milliseconds"),
             "content_id": content or self.rng.choice(self.contents()), "service_id": self.rng.choice(self.services()),
             "user_id": sess["user_id"], "session_id": sess["session_id"], "action_type": action,
             "duration_seconds": self.rng.choice([None, 15, 240]) if action == "view" else None,
             "scroll_depth_percent": self.rng.choice([None, 40, 100]), "search_rank": self.rng.choice([None, 1, 3]),
             "rating": self.rng.choice([None, None, 4]), "query_id": None,
             "ip_address": sess["ip_address"], "user_agent": sess["user_agent"]}
        e.update(over)
        self.sent[("c", eid)] = e
        return e

    def deliver(self, feed, events, wrap=False):
        payload = {"data": events} if wrap else events
        return scalar(self.conn, """INSERT INTO citizen_src.analytics_payloads (feed, source, payload)
                                    VALUES (%s, 'a15c', %s::jsonb) RETURNING payload_id""", (feed, json.dumps(payload)))

    def in_stamp(self, stamp, sql, params):
        """Run an UPDATE / INSERT whose updated_at is `stamp` (the source's clock, e.g. a change keyed late)."""
        self.conn.execute(sql.replace("SET ", "SET updated_at = %s, ", 1), (stamp, *params))

    def day(self, d):
        conn, rng = self.conn, self.rng
        # the day's traffic: sessions of queries and content events, in two payloads (one wrapped)
        qs, cs = [], []
        for _ in range(8):
            sess = self.session()
            start = self.at(d, rng.randrange(6, 22), rng.randrange(60), rng.randrange(60))
            for i in range(rng.randrange(1, 4)):
                qs.append(self.query(start + dt.timedelta(minutes=2 * i), sess))
            for i in range(rng.randrange(0, 3)):
                cs.append(self.usage(start + dt.timedelta(minutes=2 * i + 1), sess))
        self.notes[d]["first_query"] = qs[0]["query_id"]
        # late events: two days old, one on the generated days
        sess = self.session()
        qs.append(self.query(self.at(d - 2, 23, 50), sess))
        cs.append(self.usage(self.at(d - 2, 23, 55), sess))
        # bad events, each its own reason
        sess = self.session()
        noon = self.at(d, 12)
        qs += [self.query(noon, sess, satisfaction_score=9), self.query(noon, sess, query_type="complaint"),
               self.query(noon, sess, occurred_at=noon.strftime("%d/%m/%Y %H:%M:%S")),
               self.query(noon, sess, response_time_ms="n/a")]
        cs += [self.usage(noon, sess, action_type="like"), self.usage(noon, sess, scroll_depth_percent=140)]
        self.notes[d]["bad"] = [e.get("query_id") or e.get("event_id") for e in qs[-4:] + cs[-2:]]
        # one event sent twice in this window, the second a correction
        dup = self.query(self.at(d, 9, 15), sess)
        qs.append(dup)
        self.deliver("query_logs", qs)
        self.deliver("content_events", cs, wrap=True)
        self.deliver("query_logs", [dict(dup, response_time_ms=333, success=False)])
        self.sent[("q", dup["query_id"])] = dict(dup, response_time_ms=333, success=False)
        # a payload written and withdrawn before any run read it
        pid = self.deliver("query_logs", [self.query(noon, self.session())])
        conn.execute("DELETE FROM citizen_src.analytics_payloads WHERE payload_id = %s", (pid,))
        # users: SCD2 moves, a Type 1 change, a user moving three times in one window, a change stamped late
        users = self.users()
        for uid in rng.sample(users, 3):
            conn.execute("""UPDATE citizen_src.users SET location_district = location_district || ' (new)',
                            updated_at = now() WHERE user_id = %s""", (uid,))
        conn.execute("UPDATE citizen_src.users SET language_preference = 'ta', updated_at = now() WHERE user_id = %s",
                     (rng.choice(users),))
        mover = rng.choice(users)
        for state in ("Kerala", "Goa", "Assam"):
            conn.execute("UPDATE citizen_src.users SET location_state = %s, updated_at = clock_timestamp() WHERE user_id = %s",
                         (state, mover))
        # a change keyed late: stamped yesterday morning, for a user whose queries of yesterday are loaded
        late = scalar(conn, """SELECT u.user_id FROM citizen.fct_service_queries AS f JOIN citizen.dim_user AS u USING (user_key)
                               WHERE f.queried_at > %s AND NOT u.is_inferred AND u.updated_at < %s
                               ORDER BY u.user_id LIMIT 1""".replace("u.updated_at", "u.valid_from"),
                      (self.at(d - 1, 6), self.at(d - 1, 0)))
        if late is not None:
            self.late_users.append(late)
            self.in_stamp(self.at(d - 1, 0), "UPDATE citizen_src.users SET location_district = 'Late District' WHERE user_id = %s",
                          (late,))
        # services: re-categorised (Type 2), renamed (Type 1)
        svcs = self.services()
        conn.execute("""UPDATE citizen_src.services SET service_category = service_category || ' ' || %s, updated_at = now()
                        WHERE service_id = %s""", (str(d), rng.choice(svcs)))
        conn.execute("UPDATE citizen_src.services SET service_name = service_name || ' *', updated_at = now() WHERE service_id = %s",
                     (rng.choice(svcs),))
        # contents: re-sourced (Type 2), retitled (Type 1)
        cons = self.contents()
        conn.execute("""UPDATE citizen_src.contents SET source_name = (SELECT min(source_name) FROM citizen_src.content_sources
                                                                      WHERE source_name <> contents.source_name),
                        updated_at = now() WHERE content_id = %s""", (rng.choice(cons),))
        conn.execute("UPDATE citizen_src.contents SET title = title || ' (rev)', updated_at = now() WHERE content_id = %s",
                     (rng.choice(cons),))
        getattr(self, f"day{d}", lambda: None)()

    # --- the days' own stories ---------------------------------------------------------------------

    def day1(self):
        conn = self.conn
        sess = self.session()
        # a bad event corrected by a later delivery; a good event re-delivered bad
        self.fixed_later = self.query(self.at(1, 10), sess, language_code="english")
        self.good_then_bad = self.query(self.at(1, 10, 5), sess)
        # a content event before its content; events of a user who arrives tomorrow; a bad user row
        self.new_content, self.new_user, self.bad_user = self.next_content, self.next_user, self.next_user + 1
        self.next_content += 1
        self.next_user += 2
        early = dict(sess, user_id=self.new_user)
        self.deliver("query_logs", [self.fixed_later, self.good_then_bad, self.query(self.at(1, 11), early)])
        self.deliver("content_events", [self.usage(self.at(1, 11, 1), early, content=self.new_content)])
        conn.execute("""INSERT INTO citizen_src.users (user_id, user_type, location_state, location_district, language_preference,
                            registration_date) VALUES (%s, 'guest', 'Kerala', 'Kochi', 'ml', CURRENT_DATE)""", (self.bad_user,))
        self.deliver("query_logs", [self.query(self.at(1, 11, 30), dict(sess, user_id=self.bad_user))])
        # a user deleted and re-inserted in one window with another district
        uid = self.users()[5]
        row = rows(conn, "SELECT user_type, location_state, language_preference, registration_date FROM citizen_src.users "
                         "WHERE user_id = %s", (uid,))[0]
        conn.execute("DELETE FROM citizen_src.users WHERE user_id = %s", (uid,))
        conn.execute("""INSERT INTO citizen_src.users (user_id, user_type, location_state, location_district, language_preference,
                            registration_date) VALUES (%s, %s, %s, 'Reinserted', %s, %s)""", (uid, *row))

    def day2(self):
        conn = self.conn
        conn.execute("""INSERT INTO citizen_src.contents (content_id, content_type, title, language_code, service_id, source_name,
                            created_at, updated_at)
                        SELECT %s, 'faq', 'Late FAQ', 'hi', service_id, source_name, %s, %s FROM citizen_src.contents
                        ORDER BY content_id LIMIT 1""", (self.new_content, self.at(0, 8), self.at(0, 8)))
        conn.execute("""INSERT INTO citizen_src.users (user_id, user_type, location_state, location_district, language_preference,
                            registration_date, created_at, updated_at)
                        VALUES (%s, 'citizen', 'Bihar', 'Patna', 'hi', %s, %s, %s)""",
                     (self.new_user, self.first_day, self.at(0, 8), self.at(0, 8)))
        conn.execute("UPDATE citizen_src.users SET user_type = 'citizen', updated_at = now() WHERE user_id = %s", (self.bad_user,))
        fixed = dict(self.fixed_later, language_code="en", response_time_ms=99)
        worse = dict(self.good_then_bad, satisfaction_score=11)
        self.sent[("q", fixed["query_id"])] = fixed
        self.sent[("q", worse["query_id"])] = worse
        self.deliver("query_logs", [fixed, worse])

    def day3(self):
        # a JSON Lines file of query events landed in bronze by `dwh load`: new events and a correction of
        # one delivered two days ago
        old = dict(self.sent[("q", self.notes[1]["first_query"])], result_count=42)
        sess = self.session()
        self.file_events = [self.query(self.at(3, 7, i), sess) for i in range(3)] + [old]
        self.sent[("q", old["query_id"])] = old
        path = write(self.tmp / "queries-a15c.jsonl", "".join(json.dumps(e) + "\n" for e in self.file_events))
        ok(dwh(self.dsn, "load", "bronze.citizen_query_logs", path, "--format", "jsonl"))
        return path


@pytest.fixture(scope="module")
def world(postgresql_proc, tmp_path_factory):
    """The citizen area alone, generated (scale 0.01, 3 days) and loaded, then DAYS simulated days, each
    followed by `daily` and the comparison with the oracle. Yields (conn, dsn, {day: differences}, portal, oracle)."""
    proc = postgresql_proc
    with cloned_database(proc, proc.template_dbname, "a15c") as conn:
        dsn = make_conninfo(proc.host, proc.port, proc.user, conn.info.dbname, proc.password)
        conn.execute("SET TimeZone = 'UTC'")
        disable_other_areas(conn, "citizen")
        today = scalar(conn, "SELECT (now() AT TIME ZONE 'Asia/Kolkata')::date")
        first_day = today - dt.timedelta(days=DAYS + 1)
        conn.execute("CALL citizen_src.generate(p_scale => 0.01, p_seed => 0.15, p_days => 3, p_through => %s)", (first_day,))
        oracle = Oracle(conn)
        oracle.snapshot()
        oracle.deliver_payloads(0)
        last_payload = scalar(conn, "SELECT max(payload_id) FROM citizen_src.analytics_payloads")
        found = {}
        run_daily(conn)
        found[0] = compare(oracle)
        portal = Portal(conn, dsn, tmp_path_factory.mktemp("a15c"), random.Random(SEED), first_day)
        for d in range(1, DAYS + 1):
            portal.day(d)
            if d == 3:   # the file is bronze's before the run's payloads
                oracle.deliveries += [("query_logs", e, d) for e in portal.file_events]
            oracle.run = d
            oracle.snapshot()
            oracle.deliver_payloads(last_payload)
            last_payload = scalar(conn, "SELECT max(payload_id) FROM citizen_src.analytics_payloads")
            run_daily(conn)
            found[d] = compare(oracle)
        yield conn, dsn, found, portal, oracle


def differences(world, check):
    return {d: f[check] for d, f in world[2].items() if check in f}


# ---------------------------------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------------------------------

# what a late-arriving dimension change leaves wrong day by day (test_a_late_user_change_repoints_...)
LATE_VERSION_CHECKS = {"fact_versions", "dm_user_analytics"}


def without(found, checks):
    return {k: v for k, v in found.items() if k not in checks}


@pytest.mark.parametrize("check", ["fct_service_queries", "fct_content_usage", "quarantine_queries", "quarantine_events",
                                   "accounting"])
def test_every_valid_event_is_in_gold_and_every_bad_one_in_quarantine(world, check):
    """Held: after every day each event id the collector delivered is in its fact with the values of its
    last valid delivery (date and time keys of the instant in India, the IP's /24 or /48, device, browser
    and OS of the user agent), and in quarantine (open) exactly when its last delivery is bad: the
    generator's and the day's bad events (rating 9, query type complaint, a DD/MM/YYYY time, response time
    n/a, action like, scroll depth 140), a bad event corrected by a later delivery (loaded, entry resolved),
    a good event re-delivered bad (the loaded version stays, the bad delivery is open), an event sent twice
    in one window (the later wins), late events two days old, a withdrawn payload (never loaded), a
    content event that waited a day for its content, and a JSON Lines file landed by `dwh load` with a
    correction of an event delivered two days before."""
    assert differences(world, check) == {}


@pytest.mark.parametrize("check", ["dim_users", "dim_services", "dim_contents"])
def test_scd2_dimensions_equal_the_source_history(world, check):
    """Held: dim_user, dim_service and dim_content hold exactly the versions the source's states give
    (valid_from = the change time, three moves in one window one version, Type 1 columns the latest
    state's in every version, a bad user row ignored until corrected, a user deleted and re-inserted in one
    window one new state); a key whose events arrived before its row keeps its inferred member's surrogate
    key and -infinity start, completed in place (docs/ARCHITECTURE.md)."""
    assert differences(world, check) == {}


def test_quarantined_users_are_exactly_the_bad_ones(world):
    """Held: the open entries of silver.citizen_users are exactly the source's users whose current row
    is bad (the generator's 'anonymous'); the 'guest' corrected a day later is resolved."""
    assert differences(world, "quarantine_users") == {}


@pytest.mark.parametrize("check", ["dm_service_analytics", "dm_content_analytics", "dm_system_analytics"])
def test_marts_equal_the_docs_definitions_over_the_source(world, check):
    """Held: the service, content and system marts equal docs/CITIZEN.md's formulas over the oracle's
    events every day (late events rebuild their old day; corrections and re-deliveries counted once)."""
    assert differences(world, check) == {}


def test_the_days_stories_happened(world):
    """The oracle is not vacuous: the facts and marts are not empty and the day's stories are in them."""
    conn, _dsn, _found, portal, oracle = world
    exp = expected(oracle)
    assert min(len(exp[k]) for k in ("fct_service_queries", "fct_content_usage", "dm_user_analytics",
                                      "quarantine_queries", "quarantine_events", "dim_users")) > 0
    assert ("q", portal.good_then_bad["query_id"], 2) in exp["accounting"]
    assert rows(conn, "SELECT l.language_code, f.response_time_ms FROM citizen.fct_service_queries AS f "
                      "JOIN citizen.dim_language AS l USING (language_key) WHERE query_id = %s",
                (portal.fixed_later["query_id"],)) == [("en", 99)]
    assert scalar(conn, "SELECT count(*) FROM citizen.fct_content_usage AS f JOIN citizen.dim_content AS c USING (content_key) "
                        "WHERE c.content_id = %s", (portal.new_content,)) == 1
    assert portal.late_users


def test_a_late_user_change_repoints_the_facts_it_covers(world):
    """DEFECT (medium), fixed (the same engine limit as attack 15b's sales customers): a user change keyed
    late (a new district stamped yesterday 00:00 IST, written today) split the user's history in dim_user
    correctly, but yesterday's queries and content events, loaded before, kept the older version's
    user_key, and dm_user_analytics kept yesterday's row on that version, until a restatement or rebuild.
    The fact steps now re-point them (dwh_etl._fact_repoint) and queue their days for the marts."""
    assert {d: f for d, f in world[2].items() if LATE_VERSION_CHECKS & set(f)} == {}


def test_a_rerun_changes_nothing(world):
    """Held: `daily` again with no source change leaves gold and the marts as they are."""
    conn, oracle = world[0], world[4]
    before = gold_state(conn)
    run_daily(conn)
    assert gold_state(conn) == before
    assert compare(oracle) == {}


def test_a_restatement_of_every_loaded_date_reproduces_gold(world):
    """Held: a restatement of every loaded date (from the calendar's first day: the range a stranger
    would give) gives the same events, dimensions and marts, equal to the oracle. It took ~95 s here when
    each per-day citizen mart computed every day of its range by a function call; the days that can have
    rows (silver.citizen_mart_days, spec "rebuild_keys") are computed now, and the days the table holds."""
    conn, oracle = world[0], world[4]
    before = gold_state(conn)
    first = scalar(conn, "SELECT min(full_date) FROM gold.dim_date")
    conn.execute("CALL dwh_etl.restate(p_pipeline => 'daily', p_from => %s, p_to => CURRENT_DATE)", (first,))
    assert gold_state(conn) == before
    assert compare(oracle) == {}


@pytest.fixture(scope="module")
def rebuilt(world):
    """`dwh rebuild citizen` once, after the rerun and the restatement: (gold before, gold after)."""
    conn = world[0]
    before = gold_state(conn)
    conn.execute("CALL dwh_etl.rebuild(p_target => 'citizen')")
    return before, gold_state(conn)


def once_inferred(state):
    """The users whose first version starts at -infinity (first known as inferred members)."""
    return {r[0] for r in state["dim_users"] if r[1] is None}


def test_a_rebuild_of_the_area_reproduces_gold(world, rebuilt):
    """DEFECT (medium), fixed: `dwh rebuild citizen` took 190 s on this tiny area (~700 events): each per-day
    mart's view computes a day by a function call over gold.dim_date (2020 to two years ahead), and the
    rebuild queued every key of the view, so every calendar day was computed to find the few with rows.
    The mart steps now name the days that can have rows (silver.citizen_mart_days, spec "rebuild_keys"):
    a few seconds. The rebuild gives the same facts, dimensions and marts, equal to the oracle, but for
    the start of a once-inferred user's first version (the xfail below)."""
    conn, oracle = world[0], world[4]
    before, after = rebuilt
    early = once_inferred(before)
    strip = lambda rs: [r for r in rs if r[0] not in early]  # noqa: E731
    # (the facts' versions and dm_user_analytics carry the version's start: left out here, see the xfail)
    assert {k: strip(v) if k == "dim_users" else v for k, v in without(after, LATE_VERSION_CHECKS).items()} == \
           {k: strip(v) if k == "dim_users" else v for k, v in without(before, LATE_VERSION_CHECKS).items()}
    # (the oracle keeps -infinity for the once-inferred users: their dimension rows, facts' versions and
    # dm_user_analytics rows differ, the xfail below)
    assert without(compare(oracle), LATE_VERSION_CHECKS | {"dim_users"}) == {}


@pytest.mark.xfail(strict=True, reason=(
    "a rebuild loads dim_user from silver before any fact, so no inferred member is created and a user first "
    "known through its events starts at its first change time, not at -infinity as in the daily loads (facts "
    "point at the same version either way: an event before the first version takes the first); the same as "
    "attack 15d's agents"))
def test_a_rebuild_keeps_the_start_of_a_once_inferred_user(world, rebuilt):
    """DEFECT (low), xfail: the first version of a user first loaded as an inferred member starts at -infinity
    day by day and at its first change time after a rebuild."""
    before, after = rebuilt
    assert once_inferred(before), "the world has no once-inferred user: the test proves nothing"
    assert after["dim_users"] == before["dim_users"]
