"""Table lineage as a graph: ``dwh lineage TABLE --format text|mermaid|dot|json`` and the pictures of the
docs site. The edges come from SQL (``dwh_lineage.lineage_graph``, or the catalog's ``table_edges``); this
module lays them out and prints them."""

from __future__ import annotations

import html
import json
from collections import defaultdict
from typing import Callable, Iterable

import psycopg
from psycopg.rows import dict_row

from .config import connect
from .errors import from_psycopg

FORMATS = ("text", "mermaid", "dot", "json")
DIRECTIONS = ("upstream", "downstream", "both")

# fill colours of the layers (pictures, mermaid, dot)
LAYER_COLOURS = {
    "source": "#e8e8e8", "bronze": "#e6c9a8", "silver": "#dfe3e8", "gold": "#f7e08c", "mart": "#c9e4c5",
    "engine": "#d6e4f0", "external": "#ffffff",
}


def fetch_graph(conninfo: str, table: str, direction: str) -> dict:
    """The lineage graph of TABLE: {"table", "direction", "nodes": [{name, layer, level}], "edges":
    [{source, target, dependency_type}]}; level < 0 upstream, > 0 downstream (distance from TABLE)."""
    from .ops import _known_table

    with connect(conninfo) as conn:
        try:
            _known_table(conn, table)
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute("SELECT * FROM dwh_lineage.lineage_graph(%s, %s)", (table, direction))
                rows = cur.fetchall()
                cur.execute("SELECT layer FROM dwh_etl.table_registry WHERE table_name = %s", (table,))
                own = cur.fetchone()
        except psycopg.Error as exc:
            raise from_psycopg(exc) from exc
    return graph_from_edges(table, direction, rows, own["layer"] if own else None)


def graph_from_edges(table: str, direction: str, rows: Iterable[dict], layer: str | None = None) -> dict:
    """Nodes (with layer and signed distance) and de-duplicated edges from lineage_graph-shaped rows."""
    layers: dict[str, str] = {table: layer or "external"}
    edges: dict[tuple[str, str], str] = {}
    for r in rows:
        edges[(r["source"], r["target"])] = r.get("dependency_type") or "data"
        layers.setdefault(r["source"], r.get("source_layer") or "external")
        layers.setdefault(r["target"], r.get("target_layer") or "external")
    if layer:
        layers[table] = layer
    levels = _levels(table, edges.keys())
    nodes = [{"name": n, "layer": layers.get(n, "external"), "level": levels.get(n, 0)}
             for n in sorted(layers, key=lambda n: (levels.get(n, 0), n))]
    return {"table": table, "direction": direction, "nodes": nodes,
            "edges": [{"source": s, "target": t, "dependency_type": d} for (s, t), d in sorted(edges.items())]}


def subgraph(table: str, direction: str, all_edges: Iterable[dict]) -> dict:
    """The lineage graph of TABLE from the whole edge list (the catalog's table_edges), as fetch_graph."""
    parents: dict[str, list[dict]] = defaultdict(list)
    children: dict[str, list[dict]] = defaultdict(list)
    layer = None
    for e in all_edges:
        parents[e["target"]].append(e)
        children[e["source"]].append(e)
        if e["target"] == table:
            layer = e.get("target_layer")
        elif e["source"] == table:
            layer = e.get("source_layer")
    chosen: dict[tuple[str, str], dict] = {}
    for side, links, far in (("upstream", parents, "source"), ("downstream", children, "target")):
        if direction not in (side, "both"):
            continue
        seen, todo = {table}, [table]
        while todo:
            node = todo.pop()
            for e in links.get(node, ()):
                if e[far] not in seen:
                    seen.add(e[far])
                    todo.append(e[far])
        for e in all_edges:
            if e["source"] in seen and e["target"] in seen and (
                    (side == "upstream" and e["source"] != table) or (side == "downstream" and e["target"] != table)):
                chosen[(e["source"], e["target"])] = e
    return graph_from_edges(table, direction, chosen.values(), layer)


def _levels(table: str, edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Longest distance from TABLE: negative upstream, positive downstream, so that every edge of the
    picture points to the right (a node fed by two paths sits right of both)."""
    edges = list(edges)
    parents: dict[str, set[str]] = defaultdict(set)
    children: dict[str, set[str]] = defaultdict(set)
    for s, t in edges:
        parents[t].add(s)
        children[s].add(t)

    def longest(links: dict[str, set[str]]) -> dict[str, int]:
        depth: dict[str, int] = {table: 0}
        frontier = [table]
        for _ in range(len(edges) + 1):  # Bellman-Ford-like relaxation, bounded (a cycle stops growing)
            nxt = []
            for node in frontier:
                for other in links.get(node, ()):
                    if other != table and depth.get(other, -1) < depth[node] + 1 and depth[node] < 60:
                        depth[other] = depth[node] + 1
                        nxt.append(other)
            if not nxt:
                break
            frontier = nxt
        return depth

    up = longest(parents)
    down = longest(children)
    levels = {n: -d for n, d in up.items()}
    for n, d in down.items():
        if n not in levels or levels[n] == 0:
            levels[n] = d
    return levels


# -- printing ------------------------------------------------------------------------------------------
def render(graph: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(graph, indent=2)
    if fmt == "mermaid":
        return _mermaid(graph)
    if fmt == "dot":
        return _dot(graph)
    return _text(graph)


def _text(graph: dict) -> str:
    """Every node once, with its parents (upstream: what it is built from) or its children (downstream)."""
    table, direction = graph["table"], graph["direction"]
    parents: dict[str, list[str]] = defaultdict(list)
    children: dict[str, list[str]] = defaultdict(list)
    for e in graph["edges"]:
        parents[e["target"]].append(e["source"])
        children[e["source"]].append(e["target"])
    layer = {n["name"]: n["layer"] for n in graph["nodes"]}
    lines = [f"{table} ({direction}: {len(graph['nodes']) - 1} tables, {len(graph['edges'])} edges)"]
    if not graph["edges"]:
        lines.append("  (none)")
        return "\n".join(lines)
    for side in ("upstream", "downstream"):
        if direction not in (side, "both"):
            continue
        nodes = [n for n in graph["nodes"] if (n["level"] <= 0 if side == "upstream" else n["level"] >= 0)]
        nodes.sort(key=lambda n: (abs(n["level"]), n["name"]))
        if direction == "both":
            lines.append(f"{side}:")
        for n in nodes:
            links = sorted(set(parents[n["name"]] if side == "upstream" else children[n["name"]]))
            if side == "upstream":
                links = [p for p in links if any(x["name"] == p and x["level"] < 0 for x in graph["nodes"])]
            else:
                links = [c for c in links if any(x["name"] == c and x["level"] > 0 for x in graph["nodes"])]
            if not links and n["name"] != table:
                continue
            arrow = "<-" if side == "upstream" else "->"
            lines.append(f"  {n['name']}  [{layer.get(n['name'], 'external')}]")
            lines.append(f"    {arrow} " + (", ".join(links) if links else "(none)"))
        sources = [n["name"] for n in nodes if n["name"] != table and not (
            parents[n["name"]] if side == "upstream" else children[n["name"]])]
        if sources:
            lines.append(f"  {'sources' if side == 'upstream' else 'ends'}: {', '.join(sorted(sources))}")
    return "\n".join(lines)


def _node_id(name: str) -> str:
    return "n_" + "".join(c if c.isalnum() else "_" for c in name)


def _mermaid(graph: dict) -> str:
    lines = ["flowchart LR"]
    for n in graph["nodes"]:
        lines.append(f'    {_node_id(n["name"])}["{n["name"]}"]:::{n["layer"]}')
    for e in graph["edges"]:
        arrow = "-.->" if e["dependency_type"] != "data" else "-->"
        lines.append(f"    {_node_id(e['source'])} {arrow} {_node_id(e['target'])}")
    for layer in sorted({n["layer"] for n in graph["nodes"]}):
        lines.append(f"    classDef {layer} fill:{LAYER_COLOURS.get(layer, '#ffffff')},stroke:#555")
    lines.append(f"    style {_node_id(graph['table'])} stroke-width:3px")
    return "\n".join(lines)


def _dot(graph: dict) -> str:
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["digraph lineage {", "    rankdir=LR;", '    node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    for n in graph["nodes"]:
        extra = ", penwidth=3" if n["name"] == graph["table"] else ""
        lines.append(f"    {q(n['name'])} [fillcolor={q(LAYER_COLOURS.get(n['layer'], '#ffffff'))}{extra}];")
    for e in graph["edges"]:
        style = " [style=dashed]" if e["dependency_type"] != "data" else ""
        lines.append(f"    {q(e['source'])} -> {q(e['target'])}{style};")
    lines.append("}")
    return "\n".join(lines)


# -- the picture (SVG) ---------------------------------------------------------------------------------
NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 196, 26, 44, 10, 8


def svg(graph: dict, href: Callable[[str], str | None] = lambda name: None) -> str:
    """The graph as an SVG picture, columns by level (upstream left, downstream right), each node a link
    to its table (href(name), None for no link)."""
    columns: dict[int, list[str]] = defaultdict(list)
    layer = {}
    for n in graph["nodes"]:
        columns[n["level"]].append(n["name"])
        layer[n["name"]] = n["layer"]
    if not columns:
        return ""
    levels = sorted(columns)
    height_n = max(len(v) for v in columns.values())
    width = len(levels) * NODE_W + (len(levels) - 1) * GAP_X + 2 * PAD
    height = height_n * NODE_H + (height_n - 1) * GAP_Y + 2 * PAD
    order = _order_columns(levels, columns, graph["edges"])
    pos: dict[str, tuple[float, float]] = {}
    for i, lvl in enumerate(levels):
        names = order[lvl]
        top = PAD + (height - 2 * PAD - (len(names) * NODE_H + (len(names) - 1) * GAP_Y)) / 2
        for j, name in enumerate(names):
            pos[name] = (PAD + i * (NODE_W + GAP_X), top + j * (NODE_H + GAP_Y))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="lineage of {html.escape(graph["table"])}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#777"/></marker></defs>']
    for e in graph["edges"]:
        if e["source"] not in pos or e["target"] not in pos:
            continue
        (x1, y1), (x2, y2) = pos[e["source"]], pos[e["target"]]
        x1, y1, y2 = x1 + NODE_W, y1 + NODE_H / 2, y2 + NODE_H / 2
        if x2 <= x1:  # a back edge (cycle or same column): bend around
            mid = max(x1, x2) + GAP_X / 2
            d = f"M {x1:.0f} {y1:.0f} C {mid:.0f} {y1:.0f}, {mid:.0f} {y2:.0f}, {x2:.0f} {y2:.0f}"
        else:
            mx = (x1 + x2) / 2
            d = f"M {x1:.0f} {y1:.0f} C {mx:.0f} {y1:.0f}, {mx:.0f} {y2:.0f}, {x2:.0f} {y2:.0f}"
        dash = ' stroke-dasharray="4 3"' if e.get("dependency_type", "data") != "data" else ""
        out.append(f'<path class="edge" data-source="{html.escape(e["source"])}" data-target="{html.escape(e["target"])}" '
                   f'd="{d}" fill="none" stroke="#777" stroke-width="1.3"{dash} marker-end="url(#arrow)"/>')
    for name, (x, y) in pos.items():
        focus = name == graph["table"]
        label = name if len(name) <= 31 else name[:15] + "…" + name[-15:]
        node = (f'<g class="node{" focus" if focus else ""}" data-table="{html.escape(name)}">'
                f'<title>{html.escape(name)} ({html.escape(layer[name])})</title>'
                f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="5" '
                f'fill="{LAYER_COLOURS.get(layer[name], "#fff")}" stroke="{"#000" if focus else "#666"}" '
                f'stroke-width="{3 if focus else 1}"/>'
                f'<text x="{x + 8:.0f}" y="{y + NODE_H / 2 + 4:.0f}" font-size="11.5" font-family="sans-serif">'
                f'{html.escape(label)}</text></g>')
        link = None if focus else href(name)
        out.append(f'<a href="{html.escape(link)}">{node}</a>' if link else node)
    out.append("</svg>")
    return "".join(out)


def _order_columns(levels: list[int], columns: dict[int, list[str]], edges: list[dict]) -> dict[int, list[str]]:
    """Order the nodes of each column by the mean position of their neighbours in the columns beside it
    (a few barycentre sweeps, both ways): fewer crossing edges than alphabetical order."""
    order = {lvl: sorted(columns[lvl]) for lvl in levels}
    neighbours: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        neighbours[e["source"]].add(e["target"])
        neighbours[e["target"]].add(e["source"])
    for sweep in range(4):
        seq = levels[1:] if sweep % 2 == 0 else list(reversed(levels[:-1]))
        for lvl in seq:
            idx = levels.index(lvl)
            beside = levels[idx - 1] if sweep % 2 == 0 else levels[idx + 1]
            rank = {n: i for i, n in enumerate(order[beside])}

            def centre(name: str, current: int) -> float:
                near = [rank[n] for n in neighbours[name] if n in rank]
                return sum(near) / len(near) if near else float(current)

            order[lvl] = [n for _, _, n in sorted((centre(n, i), i, n) for i, n in enumerate(order[lvl]))]
    return order
