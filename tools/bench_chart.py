#!/usr/bin/env python3
"""Draws rudder's benchmark results as one SVG chart (python3 standard library only).

Input: a results file written by `informer-mem --record PATH` (`{"meta": {...}, "results":
[...]}`, one object per variant, shape and scenario), optionally with criterion's medians
merged into it (`--criterion target/criterion --merge`, which adds a "criterion" list of
{group, variant, median_seconds, elements} taken from criterion's
`<group>/<variant>/new/estimates.json` and `benchmark.json`).

Output: an SVG with grouped horizontal bars, one group per variant:
  1. throughput: sync (pods/s) and watch (events/s); criterion's `initial_sync_10k_pods`
     and `watch_50k_events` medians when present, else informer-mem's own sync figure;
  2. peak RSS of the client process: after the initial sync and during a relist, for each
     shape recorded (full Pods, managedFields dropped).
kube-rs, the peer, is highlighted. No external fonts, scripts or images.

    python3 tools/bench_chart.py benches/results/RESULTS.json -o docs/benchmarks.svg
    python3 tools/bench_chart.py RESULTS.json --criterion target/criterion --merge
    python3 tools/bench_chart.py --self-test

Exit status 2, with one line on stderr naming the file and what is wrong, when the input is
missing, not JSON or lacks a field the chart needs.
"""

import argparse
import json
import os
import sys
from xml.sax.saxutils import escape

PEER = "kube-rs"
SYNC_GROUP = "initial_sync_10k_pods"
WATCH_GROUP = "watch_50k_events"
SHAPES = [("full", "full Pods"), ("no-managed-fields", "managedFields dropped")]

# Colours: rudder's variants in blues/greens, the peer in orange, the floor in grey.
SERIES_COLOURS = ["#2b6cb0", "#63b3ed", "#2f855a", "#9ae6b4"]
PEER_COLOURS = ["#c05621", "#f6ad55", "#9c4221", "#fbd38d"]


class InputError(Exception):
    """A problem with an input file, reported as one line."""


def load_results(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not JSON: {e.msg} at line {e.lineno} column {e.colno}")
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise InputError(f"{path}: expected an object with a \"results\" list (informer-mem --record)")
    for i, r in enumerate(doc["results"]):
        if not isinstance(r, dict):
            raise InputError(f"{path}: results[{i}] is not an object")
        for key in ("variant", "shape", "scenario", "n", "pods_per_sec", "peak_rss"):
            if key not in r:
                raise InputError(f"{path}: results[{i}] has no {key!r}")
        if r["scenario"] == "relist" and "peak_rss_relist" not in r:
            raise InputError(f"{path}: results[{i}] is a relist without 'peak_rss_relist'")
    crit = doc.get("criterion", [])
    if not isinstance(crit, list):
        raise InputError(f"{path}: \"criterion\" must be a list")
    for i, c in enumerate(crit):
        for key in ("group", "variant", "median_seconds", "elements"):
            if not isinstance(c, dict) or key not in c:
                raise InputError(f"{path}: criterion[{i}] has no {key!r}")
    return doc


def read_criterion(directory):
    """Every <group>/<variant>/new/{estimates,benchmark}.json under `directory`."""
    if not os.path.isdir(directory):
        raise InputError(f"{directory}: no such criterion directory")
    rows = []
    for group in (SYNC_GROUP, WATCH_GROUP):
        gdir = os.path.join(directory, group)
        if not os.path.isdir(gdir):
            continue
        for variant in sorted(os.listdir(gdir)):
            new = os.path.join(gdir, variant, "new")
            est_path = os.path.join(new, "estimates.json")
            bench_path = os.path.join(new, "benchmark.json")
            if not os.path.isfile(est_path):
                continue
            try:
                with open(est_path, encoding="utf-8") as f:
                    est = json.load(f)
                with open(bench_path, encoding="utf-8") as f:
                    bench = json.load(f)
                median_ns = float(est["median"]["point_estimate"])
                elements = int(bench["throughput"]["Elements"])
                name = bench.get("value_str") or bench.get("function_id") or variant
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise InputError(f"{new}: unreadable criterion result: {e}")
            rows.append({"group": group, "variant": name, "median_seconds": median_ns / 1e9, "elements": elements})
    if not rows:
        raise InputError(f"{directory}: no {SYNC_GROUP} or {WATCH_GROUP} results")
    return rows


def variant_order(doc):
    seen = []
    for r in doc["results"]:
        if r["variant"] not in seen:
            seen.append(r["variant"])
    for c in doc.get("criterion", []):
        if c["variant"] not in seen:
            seen.append(c["variant"])
    return seen


def throughput_series(doc, variants):
    """[(label, {variant: value})] for the throughput panel."""
    crit = {(c["group"], c["variant"]): c["elements"] / c["median_seconds"] for c in doc.get("criterion", [])}
    series = []
    sync = {v: crit[(SYNC_GROUP, v)] for v in variants if (SYNC_GROUP, v) in crit}
    if sync:
        series.append(("initial sync, 10k Pods (criterion, fresh process), pods/s", sync))
    else:
        by = {}
        for r in doc["results"]:
            if r["shape"] == "full" and r["scenario"] == "sync":
                by[r["variant"]] = r["pods_per_sec"]
        if not by:
            by = {r["variant"]: r["pods_per_sec"] for r in doc["results"] if r["shape"] == "full"}
        if by:
            n = next(r["n"] for r in doc["results"] if r["shape"] == "full")
            series.append((f"initial sync, {n:,} Pods (informer-mem), pods/s", by))
    watch = {v: crit[(WATCH_GROUP, v)] for v in variants if (WATCH_GROUP, v) in crit}
    if watch:
        series.append(("watch, 50k MODIFIED events (criterion), events/s", watch))
    return series


def memory_series(doc):
    """[(label, {variant: MB})] for the peak memory panel."""
    series = []
    for shape, shape_label in SHAPES:
        rows = [r for r in doc["results"] if r["shape"] == shape]
        if not rows:
            continue
        n = rows[0]["n"]
        # A relist row also carries its sync phase's figures; a sync row wins if both exist.
        after_sync = {}
        for r in sorted(rows, key=lambda r: r["scenario"] != "relist"):
            after_sync[r["variant"]] = r["peak_rss"] / 1e6
        series.append((f"after initial sync, {n:,} {shape_label}", after_sync))
        relist = {r["variant"]: r["peak_rss_relist"] / 1e6 for r in rows if r["scenario"] == "relist"}
        if relist:
            series.append((f"during relist after 410, {n:,} {shape_label}", relist))
    return series


def fmt(v):
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:,.1f}"


class Svg:
    def __init__(self, width):
        self.width = width
        self.parts = []
        self.y = 0

    def text(self, x, y, s, size=13, anchor="start", weight="normal", fill="#1a202c"):
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}">{escape(s)}</text>'
        )

    def rect(self, x, y, w, h, fill, stroke=None):
        st = f' stroke="{stroke}"' if stroke else ""
        self.parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{h:.1f}" fill="{fill}"{st}/>')

    def render(self):
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.y:.0f}" '
            f'viewBox="0 0 {self.width} {self.y:.0f}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif">'
        )
        bg = f'<rect x="0" y="0" width="{self.width}" height="{self.y:.0f}" fill="#ffffff"/>'
        return "\n".join([head, bg] + self.parts + ["</svg>", ""])


def panel(svg, title, series, variants, shared_scale, label_w=230, bar_h=15, gap=10):
    """Grouped horizontal bars: one group per variant, one bar per series; one scale for the
    whole panel when `shared_scale`, else one per series."""
    variants = [v for v in variants if any(v in s for _, s in series)]
    if not series or not variants:
        return
    left = label_w
    right = svg.width - 80
    svg.text(16, svg.y + 22, title, size=16, weight="bold")
    svg.y += 34
    # Legend.
    x = left
    for i, (label, _) in enumerate(series):
        svg.rect(x, svg.y, 12, 12, SERIES_COLOURS[i % len(SERIES_COLOURS)])
        svg.rect(x + 13, svg.y, 12, 12, PEER_COLOURS[i % len(PEER_COLOURS)])
        svg.text(x + 31, svg.y + 11, label, size=12)
        svg.y += 18
    svg.y += 6
    scales = [max(s.values()) if s else 1 for _, s in series]
    if shared_scale:
        scales = [max(scales)] * len(scales)
    for v in variants:
        group_h = len(series) * (bar_h + 2) + gap
        top = svg.y
        peer = v == PEER
        if peer:
            svg.rect(8, top - 4, svg.width - 16, group_h - gap + 8, "#fffaf0", stroke="#f6ad55")
        name = f"{v} (peer)" if peer else v
        svg.text(left - 10, top + (group_h - gap) / 2 + 5, name, size=13, anchor="end", weight="bold" if peer else "normal")
        for i, (_, s) in enumerate(series):
            y = top + i * (bar_h + 2)
            if v not in s:
                svg.text(left + 4, y + bar_h - 3, "not measured (shape not offered)", size=11, fill="#718096")
                continue
            w = (right - left) * s[v] / scales[i]
            colour = (PEER_COLOURS if peer else SERIES_COLOURS)[i % len(SERIES_COLOURS)]
            svg.rect(left, y, w, bar_h, colour)
            svg.text(left + w + 5, y + bar_h - 3, fmt(s[v]), size=12)
        svg.y += group_h
    svg.y += 14


def render(doc, source_name):
    variants = variant_order(doc)
    # The peer last, where the eye ends.
    variants = [v for v in variants if v != PEER] + ([PEER] if PEER in variants else [])
    svg = Svg(940)
    meta = doc.get("meta", {})
    svg.text(16, 28, "rudder informer benchmarks", size=20, weight="bold")
    sub = f"source: {source_name}"
    if meta:
        sub += f"; server {meta.get('server', '?')}, client {meta.get('client_threads', '?')} threads, {meta.get('cores', '?')} cores"
    svg.text(16, 48, sub, size=12, fill="#4a5568")
    svg.text(16, 64, "kube-rs (orange, boxed) is the peer. Throughput: each colour has its own scale.", size=12, fill="#4a5568")
    svg.y = 76
    panel(svg, "Throughput (higher is better)", throughput_series(doc, variants), variants, shared_scale=False)
    panel(svg, "Peak RSS of the client process, MB (lower is better; one scale)", memory_series(doc), variants, shared_scale=True)
    return svg.render()


def self_test():
    import tempfile

    row = {"variant": "kube-rs", "shape": "full", "scenario": "relist", "n": 10, "pods_per_sec": 5.0,
           "peak_rss": 2e6, "peak_rss_relist": 3e6}
    good = {"meta": {}, "results": [row, dict(row, variant="rudder-informer", pods_per_sec=9.0)]}
    with tempfile.TemporaryDirectory() as d:
        cases = {
            "missing.json": (None, "cannot read"),
            "bad.json": ("{not json", "not JSON"),
            "shape.json": (json.dumps([1]), "\"results\" list"),
            "field.json": (json.dumps({"results": [{"variant": "x"}]}), "results[0] has no 'shape'"),
            "good.json": (json.dumps(good), None),
        }
        for name, (content, want) in cases.items():
            path = os.path.join(d, name)
            if content is not None:
                with open(path, "w") as f:
                    f.write(content)
            try:
                svg = render(load_results(path), name)
                assert want is None, f"{name}: expected an error with {want!r}"
                assert svg.startswith("<svg") and "kube-rs (peer)" in svg and "rudder-informer" in svg, name
                assert "<script" not in svg and "href" not in svg, name
            except InputError as e:
                assert want is not None and want in str(e), f"{name}: {e}"
    print("bench_chart self-test: ok")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="?", help="results file written by informer-mem --record")
    p.add_argument("-o", "--output", default="docs/benchmarks.svg", help="SVG to write (default %(default)s)")
    p.add_argument("--criterion", help="criterion's directory (target/criterion): add its medians")
    p.add_argument("--merge", action="store_true", help="with --criterion: also store them in the results file")
    p.add_argument("--self-test", action="store_true", help="check the error paths and the output, then exit")
    a = p.parse_args()
    if a.self_test:
        self_test()
        return 0
    if not a.results:
        p.error("a results file is needed")
    try:
        doc = load_results(a.results)
        if a.criterion:
            crit = read_criterion(a.criterion)
            keep = [c for c in doc.get("criterion", []) if (c["group"], c["variant"]) not in {(x["group"], x["variant"]) for x in crit}]
            doc["criterion"] = keep + crit
            if a.merge:
                with open(a.results, "w", encoding="utf-8") as f:
                    json.dump(doc, f, indent=2)
                    f.write("\n")
        svg = render(doc, os.path.basename(a.results))
    except InputError as e:
        print(f"bench_chart: {e}", file=sys.stderr)
        return 2
    out_dir = os.path.dirname(a.output)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    with open(a.output, "w", encoding="utf-8") as f:
        f.write(svg)
    print(f"wrote {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
