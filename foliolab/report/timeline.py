"""A run as a timeline anyone can look at: a Chrome trace (JSON, the format
Perfetto's UI and chrome://tracing open) and a self-contained HTML page
that draws the same events with no network access -- one lane per task
(named with its CPU), a step as an event, each lock held as a span, the
watched state, the failing check marked.

The HTML page embeds the Chrome trace itself and renders it in the browser,
so the browser test of the page (tests/test_timeline_browser.py) also reads
the exported events.  One step is drawn as one microsecond, as the ftrace
text of ``--events`` counts it.
"""

from __future__ import annotations

import html
import json

PID = 1
WATCH_TID = 100_000          # the watched state's track
LOCK_TID_BASE = 200_000      # a track per (task, lock)


def _lane_name(t):
    return f"{t.name} (cpu{t.cpu})"


def chrome_trace(recording, *, failure=None, title="foliolab"):
    """The run as a Chrome trace dict (``{"traceEvents": [...]}``)."""
    ev = [{"ph": "M", "pid": PID, "tid": 0, "name": "process_name",
           "args": {"name": title}}]
    tasks = {t.tid: t for t in recording.tasks}
    used = sorted({r.tid for r in recording.steps})
    for tid in used:
        t = tasks.get(tid)
        name = _lane_name(t) if t is not None else f"task {tid}"
        ev.append({"ph": "M", "pid": PID, "tid": tid + 1, "name": "thread_name",
                   "args": {"name": name}})
        ev.append({"ph": "M", "pid": PID, "tid": tid + 1, "name": "thread_sort_index",
                   "args": {"sort_index": tid}})
    ev.append({"ph": "M", "pid": PID, "tid": WATCH_TID, "name": "thread_name",
               "args": {"name": "watched state"}})
    lock_tracks = {}
    open_spans = {}                  # (tid, lock) -> start step
    prev_watch = recording.watch0
    for r in recording.steps:
        ev.append({"ph": "X", "pid": PID, "tid": r.tid + 1, "ts": r.step, "dur": 1,
                   "name": r.function or "step", "cat": "step",
                   "args": {"step": r.step, "label": r.label,
                            "chain": " > ".join(r.chain),
                            **({"memory": list(r.notes)} if r.notes else {})}})
        held = set(r.held)
        for key in [k for k in open_spans if k[0] == r.tid and k[1] not in held]:
            _close(ev, lock_tracks, key, open_spans.pop(key), r.step)
        for lk in r.held:
            if (r.tid, lk) not in open_spans:
                open_spans[(r.tid, lk)] = r.step
        if r.watch != prev_watch:
            ev.append({"ph": "i", "s": "t", "pid": PID, "tid": WATCH_TID, "ts": r.step,
                       "name": "; ".join(f"{k}={v}" for k, v in r.watch.items()),
                       "cat": "watch", "args": dict(r.watch)})
            prev_watch = r.watch
    end = recording.steps[-1].step + 1 if recording.steps else 0
    for key, start in sorted(open_spans.items()):
        _close(ev, lock_tracks, key, start, end)
    if failure is not None:
        ev.append({"ph": "i", "s": "g", "pid": PID, "tid": 0, "ts": failure.step,
                   "name": f"FAILED {failure.headline()}", "cat": "failure",
                   "args": {"kind": failure.kind, "message": failure.message,
                            "task": failure.task, "step": failure.step}})
    return {"traceEvents": ev, "displayTimeUnit": "ms",
            "otherData": {"generator": "foliolab", "title": title,
                          "watch0": recording.watch0, "steps": end}}


def _close(ev, tracks, key, start, end):
    tid, lock = key
    track = tracks.get(key)
    if track is None:
        track = tracks[key] = LOCK_TID_BASE + len(tracks)
        ev.append({"ph": "M", "pid": PID, "tid": track, "name": "thread_name",
                   "args": {"name": f"lock {lock} (task {tid})"}})
    ev.append({"ph": "X", "pid": PID, "tid": track, "ts": start, "dur": max(1, end - start),
               "name": lock, "cat": "lock", "args": {"task": tid, "from": start, "to": end}})


def chrome_trace_json(recording, **kw):
    return json.dumps(chrome_trace(recording, **kw), indent=1) + "\n"


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>%(title)s</title>
<style>
body { font: 13px/1.3 system-ui, sans-serif; margin: 12px; color: #222; }
h1 { font-size: 16px; margin: 0 0 4px; }
#failure { background: #fde8e8; border: 1px solid #c62828; color: #8e0000;
           padding: 6px 8px; margin: 8px 0; white-space: pre-wrap; }
#chart { overflow-x: auto; border: 1px solid #ccc; }
.lane-label { font: 12px monospace; fill: #222; }
.step { fill: #5c8fd6; stroke: #fff; stroke-width: 0.5; cursor: pointer; }
.step.fail { fill: #c62828; }
.lock { fill: #f2b84b; opacity: 0.8; }
.watch { font: 11px monospace; fill: #2e7d32; }
#state { font: 12px monospace; margin-top: 6px; color: #2e7d32; }
#detail { font: 12px monospace; margin-top: 8px; white-space: pre-wrap; min-height: 3em; }
</style></head>
<body>
<h1>%(title)s</h1>
<div id="meta">%(meta)s</div>
<div id="failure" hidden></div>
<div id="chart"></div>
<div id="state"></div>
<div id="detail">click a step for its label</div>
<script id="trace-data" type="application/json">%(data)s</script>
<script>
"use strict";
(function () {
  const trace = JSON.parse(document.getElementById("trace-data").textContent);
  const ev = trace.traceEvents;
  const names = {}, order = [];
  for (const e of ev) {
    if (e.ph === "M" && e.name === "thread_name") { names[e.tid] = e.args.name; }
  }
  const steps = ev.filter(e => e.ph === "X" && e.cat === "step");
  const locks = ev.filter(e => e.ph === "X" && e.cat === "lock");
  const watch = ev.filter(e => e.ph === "i" && e.cat === "watch");
  const fail = ev.find(e => e.ph === "i" && e.cat === "failure");
  for (const s of steps) { if (!order.includes(s.tid)) { order.push(s.tid); } }
  order.sort((a, b) => a - b);
  const lockTask = {};
  for (const l of locks) { lockTask[l.tid] = l.args.task + 1; }
  const total = Math.max(1, trace.otherData.steps);
  const W = Math.max(6, Math.min(24, Math.floor(1400 / total)));
  const LABEL = 170, ROW = 34, top = 20;
  const rows = order.length + 1;
  const width = LABEL + total * W + 320, height = top + rows * ROW + 10;
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", width); svg.setAttribute("height", height);
  svg.setAttribute("id", "timeline");
  function el(tag, attrs, text) {
    const x = document.createElementNS(NS, tag);
    for (const k in attrs) { x.setAttribute(k, attrs[k]); }
    if (text !== undefined) { x.textContent = text; }
    svg.appendChild(x); return x;
  }
  const laneY = {};
  order.forEach((tid, i) => {
    const y = top + i * ROW; laneY[tid] = y;
    el("rect", {x: 0, y: y, width: width, height: ROW, fill: i %% 2 ? "#fafafa" : "#f0f3f8"});
    const t = el("text", {x: 4, y: y + 20, "class": "lane-label", "data-lane": names[tid]},
                 names[tid] || ("task " + (tid - 1)));
  });
  const wy = top + order.length * ROW;
  el("text", {x: 4, y: wy + 20, "class": "lane-label", "data-lane": "watched state"},
     "watched state");
  for (const l of locks) {
    const y = laneY[lockTask[l.tid]];
    if (y === undefined) { continue; }
    const r = el("rect", {x: LABEL + (l.ts - 1) * W, y: y + ROW - 9, width: l.dur * W, height: 6,
                          "class": "lock"});
    const tt = document.createElementNS(NS, "title");
    tt.textContent = "holds " + l.name + " (steps " + l.args.from + "-" + l.args.to + ")";
    r.appendChild(tt);
  }
  const detail = document.getElementById("detail");
  // the failing step: the last one at or before the failure
  let failTs = -1;
  if (fail) { for (const s of steps) { if (s.ts <= fail.ts && s.ts > failTs) { failTs = s.ts; } } }
  for (const s of steps) {
    const isFail = fail && s.ts === failTs;
    const r = el("rect", {x: LABEL + (s.ts - 1) * W, y: laneY[s.tid] + 4, width: W,
                          height: ROW - 16, "class": "step" + (isFail ? " fail" : ""),
                          "data-step": s.ts});
    const tt = document.createElementNS(NS, "title");
    tt.textContent = "step " + s.ts + " " + s.name + ": " + s.args.label;
    r.appendChild(tt);
    r.addEventListener("click", () => {
      detail.textContent = "step " + s.ts + "  " + names[s.tid] + "\\n" + s.args.chain +
        "\\n" + s.args.label + (s.args.memory ? "\\n" + s.args.memory.join("\\n") : "");
    });
  }
  // the watched state: a band per value (alternating shades), its text
  // where the band is wide enough, every value in the band's tooltip
  watch.forEach((w, i) => {
    const x0 = LABEL + (w.ts - 1) * W;
    const x1 = i + 1 < watch.length ? LABEL + (watch[i + 1].ts - 1) * W : LABEL + total * W;
    const band = el("rect", {x: x0, y: wy + 6, width: Math.max(1, x1 - x0), height: ROW - 12,
                             fill: i %% 2 ? "#d7ecd9" : "#c3e3c6", "class": "watch-band"});
    const tt = document.createElementNS(NS, "title");
    tt.textContent = "after step " + w.ts + ": " + w.name;
    band.appendChild(tt);
    const room = Math.floor((x1 - x0 - 6) / 7);
    if (room >= 4) {
      el("text", {x: x0 + 3, y: wy + 21, "class": "watch"},
         w.name.length > room ? w.name.slice(0, room - 1) + "\u2026" : w.name);
    }
  });
  const state = document.getElementById("state");
  const last = watch.filter(w => !fail || w.ts <= fail.ts).pop();
  state.textContent = "watched state " + (fail ? "at the failure" : "at the end") + ": " +
    (last ? last.name : Object.entries(trace.otherData.watch0).map(
      ([k, v]) => k + "=" + v).join("; "));
  if (fail) {
    const x = LABEL + fail.ts * W;
    el("line", {x1: x, y1: 0, x2: x, y2: height, stroke: "#c62828", "stroke-width": 2,
                id: "failure-mark"});
    const box = document.getElementById("failure");
    box.hidden = false;
    box.textContent = fail.name + "  (step " + fail.ts + ")";
  }
  document.getElementById("chart").appendChild(svg);
  document.body.setAttribute("data-rendered", "1");
})();
</script>
</body></html>
"""


def html_timeline(recording, *, failure=None, title="foliolab", meta=""):
    """A self-contained HTML page (no network) drawing the run."""
    data = json.dumps(chrome_trace(recording, failure=failure, title=title))
    # inside <script>: no "</" may close the element early
    data = data.replace("</", "<\\/")
    return _PAGE % {"title": html.escape(title), "meta": html.escape(meta),
                    "data": data}
