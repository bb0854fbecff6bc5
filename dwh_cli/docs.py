"""``dwh docs generate | serve``: a static data catalog site (issue 16).

Everything shown comes from one SQL call, ``dwh_lineage.catalog()`` (a jsonb document: relations with
columns, keys, comments, rows and size; SCD specs; table and column lineage; pipelines with steps, schedules
and runs; quality rules with history; freshness). This module only renders it: plain HTML pages with
inline CSS and JavaScript, lineage pictures as inline SVG, a search index as a local script, so the site
reads offline from the file system (no CDN, no server) and ``dwh docs serve`` is only a convenience."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import html
import http.server
import json
import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import psycopg

from .config import connect
from .docs_graph import LAYER_COLOURS, subgraph, svg
from .errors import DwhError, from_psycopg

DEFAULT_OUT = "dwh-docs"
LAYER_ORDER = ["source", "bronze", "silver", "gold", "mart", "engine", None]


def fetch_catalog(conninfo: str) -> dict:
    with connect(conninfo) as conn:
        try:
            return conn.execute("SELECT dwh_lineage.catalog()").fetchone()[0]
        except psycopg.Error as exc:
            raise from_psycopg(exc) from exc


def generate(conninfo: str, out: str | Path) -> dict:
    """Write the site into OUT (replacing a previous site there); returns counts of what was written."""
    return render_site(fetch_catalog(conninfo), Path(out))


def serve(out: str | Path, port: int, host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    """An HTTP server for the site in OUT on localhost (the caller runs serve_forever)."""
    handler = functools.partial(_QuietHandler, directory=str(Path(out).resolve()))
    return http.server.ThreadingHTTPServer((host, port), handler)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        pass


# -- helpers -------------------------------------------------------------------------------------------
def esc(value: Any) -> str:
    return "" if value is None else html.escape(str(value))


def page_name(relation: str) -> str:
    """The page of a relation: its name where that is a plain file name; a name with other characters
    (spaces, quotes, non-ASCII letters) gets them replaced and a short hash of the whole name, so two
    relations never share a page (gold."ñ" and gold."ü" were both t/gold._.html: one page was lost)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", relation)
    if safe != relation:
        safe += "-" + hashlib.sha256(relation.encode("utf-8")).hexdigest()[:10]
    return "t/" + safe + ".html"


def human_bytes(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


def human_count(n: int | None, exact: bool = True) -> str:
    if n is None:
        return ""
    return f"{n:,}" if exact else f"≈ {n:,}"


def human_seconds(s: float | None) -> str:
    if s is None:
        return ""
    s = float(s)
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


def when(ts: str | None) -> str:
    """An ISO timestamp as the CLI prints it: 2026-12-02 17:03:14Z (UTC)."""
    if not ts:
        return ""
    try:
        value = dt.datetime.fromisoformat(ts)
    except ValueError:
        return ts
    if value.tzinfo:
        value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%SZ")


CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{background:#1f3a5f;color:#fff;padding:8px 20px;display:flex;gap:18px;align-items:center;flex-wrap:wrap;position:sticky;top:0;z-index:5}
header a{color:#fff;text-decoration:none;font-weight:500}header .brand{font-weight:700;font-size:16px;margin-right:8px}
#search{position:relative;margin-left:auto}#q{width:320px;padding:5px 8px;border-radius:4px;border:0;font-size:14px}
#results{position:absolute;right:0;top:32px;background:#fff;color:#000;width:520px;max-height:70vh;overflow:auto;box-shadow:0 4px 14px rgba(0,0,0,.25);border-radius:4px;display:none}
#results a{display:block;padding:5px 10px;color:#1f3a5f;text-decoration:none;border-bottom:1px solid #eee}#results a:hover,#results a.sel{background:#eef3fa}
#results small{color:#666;margin-left:6px}main{padding:16px 24px;max-width:1400px}
h1{font-size:22px;margin:6px 0 4px}h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;background:#fff;margin:4px 0 10px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f0f2f5;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#777}.tag{display:inline-block;padding:0 6px;border-radius:9px;font-size:12px;background:#eee;margin-right:3px}
.ok{color:#1a7f37}.bad{color:#cf222e}.warn{color:#9a6700}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
pre{background:#fff;border:1px solid #ddd;padding:8px;overflow:auto;max-height:420px}.graph{overflow:auto;background:#fff;border:1px solid #ddd;padding:6px}
svg.lineage{max-width:100%;height:auto}svg.lineage a:hover rect{stroke:#1f3a5f;stroke-width:2}.cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:260px;flex:1}
.legend span{display:inline-block;padding:1px 8px;margin-right:4px;border:1px solid #999;border-radius:4px;font-size:12px}
a{color:#1f5fa8}td.ts{white-space:nowrap}td.lin{font-size:12.5px}td.lin div{white-space:nowrap}td.lin div.muted{white-space:normal}
"""

SEARCH_JS = """
(function(){var q=document.getElementById('q'),box=document.getElementById('results'),root=document.body.dataset.root||'';
document.body.dataset.indexed=window.DWH_INDEX?DWH_INDEX.length:0;
var sel=-1;function show(){var v=q.value.trim().toLowerCase();box.innerHTML='';sel=-1;if(!v||!window.DWH_INDEX){box.style.display='none';return;}
var words=v.split(/\\s+/),hits=[];for(var i=0;i<DWH_INDEX.length&&hits.length<60;i++){var e=DWH_INDEX[i],h=(e[0]+' '+(e[3]||'')).toLowerCase();
if(words.every(function(w){return h.indexOf(w)>=0;}))hits.push(e);}
hits.sort(function(a,b){var x=a[0].toLowerCase().indexOf(v)===0?0:1,y=b[0].toLowerCase().indexOf(v)===0?0:1;return x-y||a[0].length-b[0].length;});
hits.slice(0,40).forEach(function(e){var a=document.createElement('a');a.href=root+e[2];a.textContent=e[0];var s=document.createElement('small');
s.textContent=e[1]+(e[3]?' \\u2014 '+e[3].slice(0,90):'');a.appendChild(s);box.appendChild(a);});
if(!hits.length){box.innerHTML='<a class="muted">no match</a>';}box.style.display='block';}
q.addEventListener('input',show);q.addEventListener('keydown',function(ev){var links=box.querySelectorAll('a[href]');
if(ev.key==='ArrowDown'||ev.key==='ArrowUp'){ev.preventDefault();if(!links.length)return;sel=(sel+(ev.key==='ArrowDown'?1:links.length-1))%links.length;
links.forEach(function(l,i){l.className=i===sel?'sel':'';});}else if(ev.key==='Enter'){var t=links[sel>=0?sel:0];if(t)location.href=t.href;}
else if(ev.key==='Escape'){box.style.display='none';}});
document.addEventListener('click',function(ev){if(!document.getElementById('search').contains(ev.target))box.style.display='none';});})();
"""


class Site:
    def __init__(self, catalog: dict, out: Path):
        self.c = catalog
        self.out = out
        self.relations = {r["name"]: r for r in catalog.get("relations", [])}
        self.dimensions = {d["target"]: d for d in catalog.get("dimensions", [])}
        self.col_from: dict[tuple[str, str], list[dict]] = defaultdict(list)
        self.col_to: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for e in catalog.get("column_lineage", []):
            self.col_from[(e["target_table"], e["target_column"])].append(e)
            self.col_to[(e["source_table"], e["source_column"])].append(e)
        self.rules_by_table: dict[str, list[dict]] = defaultdict(list)
        for rule in catalog.get("quality", []):
            self.rules_by_table[rule["table"]].append(rule)
        self.steps_by_target: dict[str, list[tuple[str, dict]]] = defaultdict(list)
        self.steps_by_source: dict[str, list[tuple[str, dict]]] = defaultdict(list)
        for p in catalog.get("pipelines", []):
            for s in p.get("steps", []):
                for t in s.get("targets") or []:
                    self.steps_by_target[t].append((p["pipeline"], s))
                for t in s.get("sources") or []:
                    self.steps_by_source[t].append((p["pipeline"], s))
        self.freshness = {f["table"]: f for f in catalog.get("freshness", [])}

    # -- page frame ---------------------------------------------------------------------------------
    def write(self, rel_path: str, title: str, body: str) -> None:
        depth = rel_path.count("/")
        root = "../" * depth
        nav = "".join(f'<a href="{root}{href}">{label}</a>' for href, label in (
            ("index.html", "Areas"), ("tables.html", "Tables"), ("pipelines.html", "Pipelines"),
            ("quality.html", "Quality"), ("freshness.html", "Freshness")))
        doc = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
               f'<meta name="viewport" content="width=device-width, initial-scale=1">'
               f'<title>{esc(title)} · dwh docs</title><style>{CSS}</style></head>'
               f'<body data-root="{root}"><header><a class="brand" href="{root}index.html">dwh docs</a>{nav}'
               f'<div id="search"><input id="q" type="search" placeholder="Search tables, columns, pipelines, rules…" '
               f'autocomplete="off" aria-label="search"><div id="results"></div></div></header>'
               f'<main>{body}<p class="muted" style="margin-top:30px">Generated {esc(when(self.c.get("generated_at")))} '
               f'from database {esc(self.c.get("database"))} (PostgreSQL {esc(self.c.get("server_version"))}) by '
               f'<code>dwh docs generate</code>.</p></main>'
               f'<script src="{root}search-index.js"></script><script>{SEARCH_JS}</script></body></html>')
        path = self.out / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(doc, encoding="utf-8")

    def link(self, name: str, root: str, label: str | None = None, column: str | None = None) -> str:
        text = esc(label or (f"{name}.{column}" if column else name))
        if name in self.relations:
            anchor = f"#col-{esc(column)}" if column else ""
            return f'<a href="{root}{page_name(name)}{anchor}">{text}</a>'
        return text

    # -- pages --------------------------------------------------------------------------------------
    def render(self) -> dict:
        if self.out.exists():
            for child in ("t", "a", "index.html", "tables.html", "pipelines.html", "quality.html",
                          "freshness.html", "search-index.js"):
                target = self.out / child
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        self.out.mkdir(parents=True, exist_ok=True)
        self.index_page()
        self.tables_page()
        for area in self.c.get("areas", []):
            self.area_page(area)
        for name in self.relations:
            self.relation_page(name)
        self.pipelines_page()
        self.quality_page()
        self.freshness_page()
        self.search_index()
        return {"relations": len(self.relations), "areas": len(self.c.get("areas", [])),
                "pipelines": len(self.c.get("pipelines", [])), "rules": len(self.c.get("quality", [])),
                "column_lineage": len(self.c.get("column_lineage", [])), "out": str(self.out)}

    def index_page(self) -> None:
        cards = []
        for area in self.c.get("areas", []):
            by_layer = defaultdict(int)
            for t in area.get("tables", []):
                by_layer[t["layer"]] += 1
            stars = [t["table"] for t in area.get("tables", []) if t["layer"] in ("gold", "mart")]
            cards.append(
                f'<div class="card"><h3><a href="a/{esc(area["area"])}.html">{esc(area["area"])}</a></h3>'
                f'<p>{esc(area.get("description"))}</p><p class="muted">'
                + ", ".join(f"{n} {esc(layer)}" for layer, n in sorted(by_layer.items())) + "</p><p>"
                + ", ".join(self.link(t, "") for t in stars[:14]) + ("…" if len(stars) > 14 else "") + "</p></div>")
        schemas = "".join(
            f'<tr><td><a href="tables.html#schema-{esc(s["schema"])}">{esc(s["schema"])}</a></td>'
            f'<td class="num">{sum(1 for r in self.relations.values() if r["schema"] == s["schema"])}</td>'
            f'<td>{esc(s.get("comment"))}</td></tr>' for s in self.c.get("schemas", []))
        body = (f'<h1>Data catalog</h1><p>Subject areas of the warehouse: what each holds, its star schema '
                f'(the gold and mart tables analysts read), how it is built. Search any table or column above; '
                f'every table page shows its columns, keys, comments, lineage picture and where each column comes from.</p>'
                f'<h2>Areas</h2><div class="cards">{"".join(cards)}</div>'
                f'<h2>Schemas</h2><table><tr><th>schema</th><th>relations</th><th>comment</th></tr>{schemas}</table>'
                + self.legend())
        self.write("index.html", "Areas", body)

    def legend(self) -> str:
        return ('<p class="legend">Layers: ' + "".join(
            f'<span style="background:{c}">{esc(layer)}</span>' for layer, c in LAYER_COLOURS.items()) + "</p>")

    def relation_rows(self, names: list[str], root: str) -> str:
        rows = []
        for name in names:
            r = self.relations[name]
            rows.append(
                f'<tr><td>{self.link(name, root)}</td><td>{esc(r["kind"])}</td><td>{esc(r.get("layer") or "")}</td>'
                f'<td class="num">{human_count(r.get("rows"), r.get("rows_exact", True))}</td>'
                f'<td class="num">{human_bytes(r.get("bytes"))}</td>'
                f'<td>{esc(r.get("comment") or r.get("description") or "")}</td></tr>')
        return ('<table><tr><th>name</th><th>kind</th><th>layer</th><th>rows</th><th>size</th><th>comment</th></tr>'
                + "".join(rows) + "</table>")

    def tables_page(self) -> None:
        parts = ["<h1>Tables, views and materialized views</h1>"]
        by_schema = defaultdict(list)
        for name, r in self.relations.items():
            by_schema[r["schema"]].append(name)
        comments = {s["schema"]: s.get("comment") for s in self.c.get("schemas", [])}
        for schema in sorted(by_schema):
            parts.append(f'<h2 id="schema-{esc(schema)}">{esc(schema)}</h2><p>{esc(comments.get(schema) or "")}</p>')
            parts.append(self.relation_rows(sorted(by_schema[schema]), ""))
        self.write("tables.html", "Tables", "".join(parts))

    def area_page(self, area: dict) -> None:
        name = area["area"]
        tables = [t for t in area.get("tables", [])]
        tables.sort(key=lambda t: (LAYER_ORDER.index(t["layer"]) if t["layer"] in LAYER_ORDER else 99, t["table"]))
        parts = [f'<h1>Area {esc(name)}</h1><p>{esc(area.get("description"))}</p>']
        for layer in LAYER_ORDER[:-1]:
            names = [t["table"] for t in tables if t["layer"] == layer and t["table"] in self.relations]
            if names:
                parts.append(f"<h2>{esc(layer)}</h2>" + self.relation_rows(names, "../"))
        dims = [d for d in self.c.get("dimensions", []) if d.get("area") == name]
        if dims:
            parts.append("<h2>Dimensions (SCD)</h2>" + self.scd_table(dims, "../"))
        steps = []
        for p in self.c.get("pipelines", []):
            for s in p.get("steps", []):
                if s.get("area") == name:
                    steps.append((p["pipeline"], s))
        if steps:
            parts.append("<h2>Steps</h2><table><tr><th>pipeline</th><th>step</th><th>kind</th><th>reads</th><th>writes</th></tr>"
                         + "".join(f'<tr><td><a href="../pipelines.html#p-{esc(p)}">{esc(p)}</a></td><td>{esc(s["step"])}</td>'
                                   f'<td>{esc(s.get("kind"))}</td><td>{self.links(s.get("sources"), "../")}</td>'
                                   f'<td>{self.links(s.get("targets"), "../")}</td></tr>' for p, s in steps) + "</table>")
        self.write(f"a/{name}.html", f"Area {name}", "".join(parts))

    def links(self, names: list[str] | None, root: str) -> str:
        return ", ".join(self.link(n, root) for n in (names or []))

    def scd_table(self, dims: list[dict], root: str) -> str:
        rows = "".join(
            f'<tr><td>{esc(d["dimension"])}</td><td>{self.link(d["target"], root)}</td><td>{esc(d["surrogate_key"])}</td>'
            f'<td>{esc(", ".join(d.get("natural_key") or []))}</td><td>{esc(", ".join(d.get("type2_columns") or []))}</td>'
            f'<td>{esc(", ".join(d.get("type1_columns") or []))}</td><td>{esc(d.get("change_ts_column"))}</td>'
            f'<td>{esc(d.get("delete_policy"))}</td><td>{esc(d.get("description"))}</td></tr>' for d in dims)
        return ('<table><tr><th>dimension</th><th>table</th><th>surrogate key</th><th>natural key</th>'
                '<th>type 2 (history)</th><th>type 1 (overwrite)</th><th>change time</th><th>deletes</th>'
                f'<th>description</th></tr>{rows}</table>')

    def origins(self, table: str, column: str, limit: int = 40) -> list[tuple[str, str]]:
        """The columns at the start of every path into table.column (what it ultimately comes from)."""
        seen, todo, roots = {(table, column)}, [(table, column)], []
        while todo and len(seen) < 500:
            node = todo.pop()
            parents = self.col_from.get(node, [])
            if not parents and node != (table, column):
                roots.append(node)
            for e in parents:
                key = (e["source_table"], e["source_column"])
                if key not in seen:
                    seen.add(key)
                    todo.append(key)
        return sorted(roots)[:limit]

    def relation_page(self, name: str) -> None:
        r = self.relations[name]
        root = "../"
        facts = [f'<span class="tag">{esc(r["kind"])}</span>']
        if r.get("layer"):
            facts.append(f'<span class="tag" style="background:{LAYER_COLOURS.get(r["layer"], "#eee")}">{esc(r["layer"])}</span>')
        if r.get("area"):
            facts.append(f'area <a href="{root}a/{esc(r["area"])}.html">{esc(r["area"])}</a>')
        if r.get("rows") is not None:
            facts.append(f'{human_count(r["rows"], r.get("rows_exact", True))} rows'
                         + ("" if r.get("rows_exact", True) else " (estimate)"))
        if r.get("bytes") is not None:
            facts.append(human_bytes(r["bytes"]))
        if r.get("partitions"):
            facts.append(f'{r["partitions"]} partitions')
        parts = [f'<h1>{esc(name)}</h1><p>{" · ".join(facts)}</p>',
                 f'<p>{esc(r.get("comment") or r.get("description") or "")}</p>']
        if r.get("comment") and r.get("description") and r["description"] != r["comment"]:
            parts.append(f'<p class="muted">Registry: {esc(r["description"])}</p>')
        # keys
        keys = []
        if r.get("primary_key"):
            keys.append(f'primary key ({esc(", ".join(r["primary_key"]))})')
        for u in r.get("unique_keys") or []:
            keys.append(f'unique ({esc(", ".join(u))})')
        for fk in r.get("foreign_keys") or []:
            keys.append(f'foreign key ({esc(", ".join(fk["columns"]))}) → {self.link(fk["references"], root)} '
                        f'({esc(", ".join(fk["ref_columns"]))})')
        if keys:
            parts.append("<p>Keys: " + "; ".join(keys) + "</p>")
        # columns
        pk = set(r.get("primary_key") or [])
        dim = self.dimensions.get(name)
        rows = []
        for col in r.get("columns", []):
            cname = col["name"]
            direct = self.col_from.get((name, cname), [])
            lin = "".join(f'<div>← {self.link(e["source_table"], root, column=e["source_column"])} '
                          f'<span class="muted">{esc(e.get("transformation"))}</span></div>' for e in direct)
            roots = [o for o in self.origins(name, cname) if (o[0], o[1]) not in
                     {(e["source_table"], e["source_column"]) for e in direct}]
            if roots:
                lin += '<div class="muted">from: ' + ", ".join(self.link(t, root, column=c) for t, c in roots) + "</div>"
            if not direct and r["kind"] in ("view", "materialized view") and r.get("definition"):
                lin = '<span class="muted">computed in the view (see its SQL below)</span>'
            used = self.col_to.get((name, cname), [])
            if used:
                lin += '<div class="muted">feeds: ' + ", ".join(
                    self.link(e["target_table"], root, column=e["target_column"]) for e in used[:8]) + (
                    "…" if len(used) > 8 else "") + "</div>"
            flags = []
            if cname in pk:
                flags.append("PK")
            if dim:
                if cname == dim.get("surrogate_key"):
                    flags.append("surrogate key")
                if cname in (dim.get("natural_key") or []):
                    flags.append("natural key")
                if cname in (dim.get("type2_columns") or []):
                    flags.append("SCD2")
                if cname in (dim.get("type1_columns") or []):
                    flags.append("SCD1")
            rows.append(
                f'<tr id="col-{esc(cname)}"><td><code>{esc(cname)}</code></td><td><code>{esc(col["type"])}</code></td>'
                f'<td style="white-space:nowrap">{"" if col.get("nullable") else "not null"}</td><td>{esc(", ".join(flags))}</td>'
                f'<td>{esc(col.get("comment") or "")}</td><td class="lin">{lin}</td></tr>')
        # lineage picture
        graph = subgraph(name, "both", self.c.get("table_edges", []))
        if graph["edges"]:
            picture = svg(graph, href=lambda n: (root + page_name(n)) if n in self.relations else None)
            ups = sum(1 for n in graph["nodes"] if n["level"] < 0)
            downs = sum(1 for n in graph["nodes"] if n["level"] > 0)
            parts.append(f'<h2>Lineage</h2><p class="muted">{ups} upstream, {downs} downstream tables; '
                         f'click a table to go to it.</p><div class="graph" id="lineage">{picture}</div>' + self.legend())
        parts.append('<h2>Columns</h2><table><tr><th>column</th><th>type</th><th>null</th><th>key</th>'
                     '<th>comment</th><th>comes from</th></tr>' + "".join(rows) + "</table>")
        if dim:
            parts.append("<h2>SCD spec</h2>" + self.scd_table([dim], root))
        # steps
        writes = self.steps_by_target.get(name, [])
        reads = self.steps_by_source.get(name, [])
        if writes or reads:
            parts.append("<h2>Steps</h2><table><tr><th></th><th>pipeline</th><th>step</th><th>kind</th><th>description</th></tr>"
                         + "".join(f'<tr><td>{how}</td><td><a href="{root}pipelines.html#p-{esc(p)}">{esc(p)}</a></td>'
                                   f'<td>{esc(s["step"])}</td><td>{esc(s.get("kind"))}</td><td>{esc(s.get("description"))}</td></tr>'
                                   for how, lst in (("written by", writes), ("read by", reads)) for p, s in lst)
                         + "</table>")
        rules = self.rules_by_table.get(name, [])
        if rules:
            parts.append("<h2>Quality rules</h2>" + self.rules_table(rules, root, with_table=False))
        if name in self.freshness:
            parts.append("<h2>Freshness</h2>" + self.freshness_table([self.freshness[name]], root))
        if r.get("definition"):
            parts.append(f'<h2>Definition</h2><pre>{esc(r["definition"])}</pre>')
        self.write(page_name(name), name, "".join(parts))

    def duration_chart(self, runs: list[dict]) -> str:
        runs = [x for x in runs if x.get("seconds") is not None] or []
        if not runs:
            return '<p class="muted">no completed run yet</p>'
        w, h, bar = 560, 90, max(4, min(24, 520 // max(len(runs), 1) - 2))
        top = max(float(x["seconds"]) for x in runs) or 1.0
        out = [f'<svg class="durations" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 18}" '
               f'viewBox="0 0 {w} {h + 18}" role="img" aria-label="run durations">']
        for i, x in enumerate(runs):
            bh = max(2, float(x["seconds"]) / top * h)
            colour = {"completed": "#2da44e", "failed": "#cf222e"}.get(x["status"], "#9a6700")
            out.append(f'<rect x="{30 + i * (bar + 2)}" y="{h - bh:.1f}" width="{bar}" height="{bh:.1f}" fill="{colour}">'
                       f'<title>run {esc(x["run_id"])} ({esc(x.get("run_date"))}): {esc(x["status"])}, '
                       f'{human_seconds(x["seconds"])}</title></rect>')
        out.append(f'<text x="0" y="10" font-size="10" fill="#555">{human_seconds(top)}</text>'
                   f'<line x1="28" y1="{h}" x2="{w}" y2="{h}" stroke="#999"/>'
                   f'<text x="30" y="{h + 14}" font-size="10" fill="#555">last {len(runs)} runs, oldest first</text></svg>')
        return "".join(out)

    def pipelines_page(self) -> None:
        parts = ["<h1>Pipelines</h1><p>Pipelines that ran first, then the others: "
                 + ", ".join(f'<a href="#p-{esc(p["pipeline"])}">{esc(p["pipeline"])}</a>' for p in self.ordered_pipelines())
                 + "</p>"]
        for p in self.ordered_pipelines():
            pid = esc(p["pipeline"])
            sched = ", ".join(f'<code>{esc(s["cron"])}</code> (next {esc(when(s.get("next_run")))})'
                              for s in p.get("schedules") or []) or "not scheduled"
            parts.append(f'<h2 id="p-{pid}">{pid}</h2><p>{esc(p.get("description"))}</p>'
                         f'<p>Schedules (UTC): {sched}{"" if p.get("is_active", True) else " · inactive"}</p>')
            parts.append("<h3>Recent runs (durations)</h3>" + self.duration_chart(p.get("runs") or []))
            recent = list(reversed(p.get("runs") or []))[:8]
            if recent:
                parts.append("<table><tr><th>run</th><th>run date</th><th>status</th><th>started</th><th>duration</th>"
                             "<th>rows written</th><th>error</th></tr>" + "".join(
                                 f'<tr><td class="num">{esc(x["run_id"])}</td><td>{esc(x.get("run_date"))}</td>'
                                 f'<td class="{"ok" if x["status"] == "completed" else "bad"}">{esc(x["status"])}</td>'
                                 f'<td class="ts">{esc(when(x.get("started_at")))}</td><td class="num">{human_seconds(x.get("seconds"))}</td>'
                                 f'<td class="num">{human_count(x.get("rows_written"))}</td><td>{esc(x.get("error") or "")}</td></tr>'
                                 for x in recent) + "</table>")
            last = {s["step"]: s for s in p.get("last_run_steps") or []}
            rows = []
            for s in p.get("steps", []):
                lr = last.get(s["step"], {})
                rows.append(
                    f'<tr><td class="num">{esc(s.get("depth"))}</td><td>{esc(s["step"])}</td><td>{esc(s.get("kind"))}</td>'
                    f'<td>{esc(s.get("area"))}</td><td>{esc(", ".join(s.get("depends_on") or []))}</td>'
                    f'<td>{self.links(s.get("sources"), "")}</td><td>{self.links(s.get("targets"), "")}</td>'
                    f'<td>{esc(lr.get("status", ""))}</td><td class="num">{human_seconds((lr.get("ms") or 0) / 1000) if lr.get("ms") is not None else ""}</td></tr>')
            parts.append("<h3>Steps (in run order; last run)</h3><table><tr><th>depth</th><th>step</th><th>kind</th><th>area</th>"
                         "<th>depends on</th><th>reads</th><th>writes</th><th>last run</th><th>took</th></tr>"
                         + "".join(rows) + "</table>")
        self.write("pipelines.html", "Pipelines", "".join(parts))

    def ordered_pipelines(self) -> list[dict]:
        return sorted(self.c.get("pipelines", []), key=lambda p: (-len(p.get("runs") or []), p["pipeline"]))

    def rules_table(self, rules: list[dict], root: str, with_table: bool = True) -> str:
        rows = []
        for q in rules:
            hist = q.get("history") or []
            latest = hist[0] if hist else None
            state = ("—" if latest is None else
                     ('<span class="ok">pass</span>' if latest.get("passed") else
                      f'<span class="{"warn" if q.get("severity") == "warn" else "bad"}">fail</span>'))
            marks = "".join(f'<span title="{esc(when(h.get("measured_at")))}: value {esc(h.get("value"))}" '
                            f'style="display:inline-block;width:8px;height:12px;margin-right:1px;background:'
                            f'{"#2da44e" if h.get("passed") else "#cf222e"}"></span>' for h in reversed(hist))
            rows.append(
                (f'<tr><td>{self.link(q["table"], root)}</td>' if with_table else "<tr>")
                + f'<td>{esc(q["rule"])}</td><td>{esc(q.get("type"))}</td><td>{esc(", ".join(q.get("columns") or []))}</td>'
                f'<td>{esc(q.get("severity"))}</td><td>{esc(q.get("scope"))}</td><td>{state}</td>'
                f'<td class="num">{esc(latest.get("value") if latest else "")}</td>'
                f'<td class="ts">{esc(when(latest.get("measured_at")) if latest else "")}</td><td>{marks}</td>'
                f'<td>{esc(q.get("description") or "")}</td></tr>')
        head = ("<th>table</th>" if with_table else "") + (
            "<th>rule</th><th>type</th><th>columns</th><th>severity</th><th>scope</th><th>latest</th><th>value</th>"
            "<th>measured</th><th>history (oldest → latest)</th><th>description</th>")
        return f"<table><tr>{head}</tr>{''.join(rows)}</table>"

    def quality_page(self) -> None:
        rules = self.c.get("quality", [])
        failing = [q for q in rules if q.get("history") and not q["history"][0].get("passed")]
        body = (f"<h1>Quality rules</h1><p>{len(rules)} rules, {len(failing)} failing at their latest evaluation. "
                f"Batch-scoped results come from pipeline runs, table-scoped ones from <code>dwh test</code>.</p>")
        if failing:
            body += "<h2>Failing</h2>" + self.rules_table(failing, "")
        body += "<h2>All rules</h2>" + self.rules_table(rules, "")
        self.write("quality.html", "Quality", body)

    def freshness_table(self, rows: list[dict], root: str) -> str:
        return ("<table><tr><th>table</th><th>rule</th><th>severity</th><th>state</th><th>max age</th><th>age</th>"
                "<th>description</th></tr>" + "".join(
                    f'<tr><td>{self.link(f["table"], root)}</td><td>{esc(f.get("rule"))}</td><td>{esc(f.get("severity"))}</td>'
                    f'<td class="{"ok" if f.get("passed") else "bad"}">{"fresh" if f.get("passed") else "stale"}</td>'
                    f'<td>{esc(f.get("max_age"))}</td><td>{esc(f.get("age"))}</td><td>{esc(f.get("description"))}</td></tr>'
                    for f in rows) + "</table>")

    def freshness_page(self) -> None:
        rows = self.c.get("freshness", [])
        self.write("freshness.html", "Freshness",
                   f"<h1>Freshness</h1><p>Freshness SLAs evaluated at generation time, stale first.</p>"
                   + self.freshness_table(rows, ""))

    def search_index(self) -> None:
        entries: list[list[str]] = []
        for name, r in self.relations.items():
            entries.append([name, r["kind"], page_name(name), r.get("comment") or r.get("description") or ""])
        for name, r in self.relations.items():
            for col in r.get("columns", []):
                entries.append([f'{name}.{col["name"]}', "column", f'{page_name(name)}#col-{col["name"]}',
                                col.get("comment") or ""])
        for area in self.c.get("areas", []):
            entries.append([area["area"], "area", f'a/{area["area"]}.html', area.get("description") or ""])
        for p in self.c.get("pipelines", []):
            entries.append([p["pipeline"], "pipeline", f'pipelines.html#p-{p["pipeline"]}', p.get("description") or ""])
        for q in self.c.get("quality", []):
            entries.append([q["rule"], "quality rule", page_name(q["table"]) if q["table"] in self.relations
                            else "quality.html", f'{q["table"]}: {q.get("type")}'])
        (self.out / "search-index.js").write_text(
            "window.DWH_INDEX=" + json.dumps(entries, ensure_ascii=False, separators=(",", ":")) + ";\n",
            encoding="utf-8")


def render_site(catalog: dict, out: Path) -> dict:
    if out.exists() and not out.is_dir():
        raise DwhError(f"{out} exists and is not a directory")
    return Site(catalog, out).render()


def ensure_site(conninfo_fn: Callable[[], str], out: Path) -> None:
    """Generate the site into OUT unless it holds one already (dwh docs serve)."""
    if not (out / "index.html").exists():
        generate(conninfo_fn(), out)
