"""``--mail``: every failing cell of lru_cache, drawn for a mail.

The failures are found by the explorer; what must be in each drawing is
read from the failing run's own labels and watched state, never written
here by hand:

* every step that changed the watched state (a refcount, PG_lru, a batch);
* every step in which a CPU acts on another CPU's per-CPU data;
* every store-buffer step (TSO);
* any ``refcount N != expected M`` the failure message quotes, as a row.

And every line fits a mail: at most 72 columns.
"""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from foliolab.explore import explore
from foliolab.explore.registry import find_family, variant_patches
from foliolab.report.mail import WIDTH, _strip_fn, columns_of, mail_head, mail_text
from foliolab.report.table import shown_notes
from foliolab.scenarios.base import BUG, HANG

FAMILY = find_family("lru_cache")
FAILING = [(s.slug, v) for s in FAMILY.scenarios for v in FAMILY.variants
           if s.expect(v).outcome in (BUG, HANG)]
_OTHER_CPU = re.compile(r"\bcpu(\d+)\b")
_REFCOUNT = re.compile(r"refcount \d+ != expected \d+")


def _found(slug, variant):
    sc = FAMILY.scenario(slug)
    e = sc.expect(variant)
    # the sticky walk finds every lru_cache failure within the cell's budget
    # (drain-transient under minchan-rfc needs ~3,700 schedules)
    budget = 8 * (e.budget or 225)
    ex = explore(sc, variant, variant_patches(FAMILY.variants[variant]), "sticky", budget, 0,
                 None, None, False, family=FAMILY.name, shrink=True, record=True)
    if ex.outcome != "failure":
        ex = explore(sc, variant, variant_patches(FAMILY.variants[variant]), "portfolio",
                     budget, 0, None, None, False, family=FAMILY.name, shrink=True,
                     record=True)
    assert ex.outcome == "failure", f"{slug} under {variant}: no failure found"
    return sc, ex


def _column_text(body, col):
    """The text of one CPU column, all whitespace removed."""
    _cpu, off, w = col
    return "".join("".join(line[off:off + w].split()) for line in body)


def _decisive(rec):
    """(cpu, text) of the steps the drawing must show."""
    tasks = {t.tid: t for t in rec.tasks}
    prev = rec.watch0
    out = []
    for r in rec.steps:
        t = tasks[r.tid]
        text = _strip_fn(r.label, r.function)
        if r.label == "exit":
            prev = r.watch
            continue
        if (r.watch != prev or t.is_sb
                or any(int(c) != t.cpu for c in _OTHER_CPU.findall(text))):
            out.append((t.cpu, text))
        out += [(t.cpu, f"> {n}") for n in shown_notes(rec).get(r.step, ())]
        prev = r.watch
    return out


@pytest.mark.parametrize("slug,variant", [pytest.param(s, v, id=f"{s}-{v}")
                                          for s, v in FAILING])
def test_mail_fits_and_shows_the_decisive_steps(slug, variant):
    sc, ex = _found(slug, variant)
    rec = ex.recording
    failure = rec.failure or ex.failure
    head = mail_head(sc.slug, ex.label, era=sc.era, settings=ex.settings,
                     strategy=ex.strategy, seed=ex.seed, schedule_index=ex.schedule_index,
                     shown=ex.shown, actors=sc.actors)
    text = mail_text(rec, head=head, failure=failure,
                     tail=[f"replay: foliolab replay traces/{slug}.{variant}.json"])
    lines = text.splitlines()
    too_wide = [ln for ln in lines if len(ln) > WIDTH]
    assert not too_wide, f"{len(too_wide)} lines wider than {WIDTH}: {too_wide[:3]}"
    # the CPU columns sit between the header's blank line and the failure's
    start = lines.index("") + 1
    end = len(lines) - 1 - lines[::-1].index("")
    body = lines[start:end]
    cols = {c[0]: c for c in columns_of(rec)}
    assert len(cols) == len({t.cpu for t in rec.tasks if any(r.tid == t.tid for r in rec.steps)})
    texts = {cpu: _column_text(body, c) for cpu, c in cols.items()}
    missing = [(cpu, t) for cpu, t in _decisive(rec) if "".join(t.split()) not in texts[cpu]]
    assert not missing, f"decisive steps missing from the mail: {missing[:5]}"
    # the figures the failure message quotes are a row of the drawing
    for quoted in set(_REFCOUNT.findall(failure.message)):
        assert any(quoted.replace(" ", "") in t for t in texts.values()), quoted
    # a sanity bound: the full table of these runs is 3 to 20 times longer
    assert "FAILED" in text and text.count("\n") < 300


def _cli(*args):
    from foliolab.cli import run
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = run(list(args))
    return rc, out.getvalue(), err.getvalue()


def test_explore_and_replay_mail_agree(tmp_path, monkeypatch):
    """explore --mail and replay --mail of its trace draw the same run, with
    the header a mail needs."""
    monkeypatch.chdir(tmp_path)
    rc, out, err = _cli("explore", "readd-after-drain", "--variant", "v0", "--strategy",
                        "pct", "--seed", "7", "--mail", "--no-progress",
                        "--trace-dir", "traces")
    assert rc == 1, err
    trace = next(iter(sorted(p.relative_to(tmp_path) for p in tmp_path.glob("traces/*.json"))))
    rc2, out2, err2 = _cli("replay", str(trace), "--mail")
    assert rc2 == 1, err2
    for text in (out, out2):
        assert max(len(ln) for ln in text.splitlines()) <= WIDTH
        assert "CONFIG_PREEMPT" in text and "x86-TSO" in text and "Linux v5.12" in text
        assert re.search(r"foliolab \d+\.\d+\.\d+ \(model [0-9a-f]{12}\)", text)
        assert f"replay: foliolab replay {trace}" in text
    body = out.split("\n\n")[1]
    assert body == out2.split("\n\n")[1]


def test_a_tso_failure_shows_the_buffered_store_and_the_stale_load():
    """mhocko-atomic fails only under TSO: U's store to its batch counter is
    still buffered when M's drain reads the counter from memory.  Both are
    rows of the table and of the mail, with the values involved."""
    from foliolab.report import header_line, interleaving_table
    sc, ex = _found("readd-after-drain", "mhocko-atomic")
    rec = ex.recording
    notes = [(r, n) for r in rec.steps for n in r.notes]
    tasks = {t.tid: t for t in rec.tasks}
    stale = [(r, n) for r, n in notes if "stale" in n]
    assert stale, "no stale load recorded"
    r, n = stale[0]
    holder = int(re.search(r"cpu(\d+)'s store buffer holds", n).group(1))
    assert holder != tasks[r.tid].cpu
    var = n.split()[1]
    stores = [(s, m) for s, m in notes if m.startswith(f"store {var} ") and "buffered" in m
              and s.step < r.step and tasks[s.tid].cpu == holder]
    assert stores, f"the store to {var} that the load missed is not shown"
    table = interleaving_table(rec, header=header_line(sc.slug, "mhocko-atomic", "x", 0, 1,
                                                       ex.settings), failure=ex.failure)
    flat = "".join(table.split())
    for text in (n, stores[-1][1]):
        assert "".join(text.split()) in flat
