"""What every output says it modelled (issue 11): the kernel era, the
preemption model by its Kconfig name, the memory model, the CPUs, the
foliolab version with the model's hash; the vmstat delta of the failing
run; failure messages that quote the model's own figures."""

from __future__ import annotations

import contextlib
import io
import json
import re

from foliolab.explore import explore
from foliolab.explore.registry import find_family, variant_patches

FAMILY = find_family("lru_cache")
TOOL = re.compile(r"foliolab \d+\.\d+\.\d+ \(model [0-9a-f]{12}\)")
RACE = ("explore", "readd-after-drain", "--variant", "v0", "--strategy", "pct", "--seed", "7",
        "--no-progress", "--trace-dir", "traces")


def _cli(*args):
    from foliolab.cli import run
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = run(list(args))
    return rc, out.getvalue(), err.getvalue()


def _prov_ok(p, *, machine=True):
    assert re.fullmatch(r"[0-9a-f]{12}", p["model_hash"])
    assert p["era"] == "v5.12" and p["kernel"] == "v5.12"
    if machine:
        assert p["preempt_kconfig"] == "CONFIG_PREEMPT"
        assert p["memory_model"] == "tso" and p["ncpus"] == 2


def test_table_trace_and_json_state_what_was_modelled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = _cli(*RACE)
    assert rc == 1, err
    lines = out.splitlines()
    assert "Linux v5.12  2 CPUs CONFIG_PREEMPT  x86-TSO" in lines[0]
    assert "PREEMPT_FULL" not in out
    assert any(TOOL.fullmatch(ln.strip()) for ln in lines)
    delta = next(ln for ln in lines if ln.strip().startswith("vmstat delta:"))
    # v5.12 has no cma_alloc_fail line in /proc/vmstat (v5.13): named, not shown
    assert "pgmigrate_fail +" in delta and "(not in v5.12: cma_alloc_fail)" in delta
    # the legend explains the elision marks and every state column shown
    legend = next(ln for ln in lines if ln.strip().startswith("state: "))
    for key in ("F: ref", "lru", "where", "activate@1", "add@0,activate@1", "F'"):
        assert key in legend
    assert any(ln.strip().startswith("legend: ") for ln in lines)
    trace = next(tmp_path.glob("traces/*.json"))
    tr = json.loads(trace.read_text())
    _prov_ok(tr["provenance"])
    assert tr["vmstat_delta"]["delta"]["pgmigrate_fail"] > 0
    rc, out, err = _cli(*RACE, "--json")
    d = json.loads(out)
    _prov_ok(d["provenance"])
    assert d["vmstat_delta"] == tr["vmstat_delta"]["delta"]
    rc, out, err = _cli("replay", str(trace.relative_to(tmp_path)), "--json")
    d = json.loads(out)
    _prov_ok(d["provenance"])
    assert d["vmstat_delta"] == tr["vmstat_delta"]["delta"]


def test_replay_proc_vmstat_is_the_kernel_format(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _cli(*RACE)
    trace = next(tmp_path.glob("traces/*.json"))
    rc, out, err = _cli("replay", str(trace.relative_to(tmp_path)), "--proc", "vmstat")
    assert rc == 1, err
    text = out.split("/proc/vmstat at step ")[1].split("\n", 1)[1]
    rows = [ln for ln in text.splitlines() if ln]
    assert rows and all(re.fullmatch(r"[a-z_0-9]+ \d+", ln) for ln in rows)
    counters = dict(ln.split() for ln in rows)
    assert "cma_alloc_fail" not in counters          # not a v5.12 counter
    from foliolab.report.vmstat import VMSTAT_ORDER
    ranks = [VMSTAT_ORDER.index(n) for n in counters]
    assert ranks == sorted(ranks)                     # vmstat_text[] order
    # the delta of the failing run is what the migrations said they failed
    tr = json.loads(trace.read_text())
    failed = int(counters["pgmigrate_fail"])
    assert failed == tr["vmstat_delta"]["delta"]["pgmigrate_fail"]


def test_verdict_table_names_version_era_and_machine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = _cli("compare", "unpaired-disable", "--variant", "lru-cache-disable",
                        "--no-progress", "-j", "1")
    assert rc == 0, err
    line = next(ln for ln in out.splitlines() if TOOL.match(ln))
    assert "models Linux v5.12 (era v5.12)" in line
    assert "2 CPUs, CONFIG_PREEMPT, x86-TSO" in line
    rc, out, err = _cli("compare", "unpaired-disable", "--variant", "lru-cache-disable",
                        "--no-progress", "-j", "1", "--json")
    fam = json.loads(out)["families"][0]
    _prov_ok(fam["provenance"], machine=False)


_REFCOUNT = re.compile(r"refcount (\d+) != expected (\d+)")


def test_failure_messages_quote_the_figures_the_table_shows():
    """The message's refcount figures are those of a refcount-check row of
    the same run (the model's label), under several searches -- a sticky
    walk used to give "4 != expected 3" against a row "4 != expected 2"."""
    sc = FAMILY.scenario("readd-after-drain")
    for strategy, seed in (("sticky", 0), ("pct", 7), ("random", 3)):
        ex = explore(sc, "v0", variant_patches(FAMILY.variants["v0"]), strategy, 3000, seed,
                     None, None, False, family=FAMILY.name, shrink=False, record=True)
        assert ex.outcome == "failure"
        quoted = set(_REFCOUNT.findall(ex.failure.message))
        assert quoted, ex.failure.message
        rows = {m for r in ex.recording.steps for m in _REFCOUNT.findall(r.label)}
        assert quoted <= rows, (quoted, rows)
        # "(seen N times)": N is the number of such rows in the run
        n = re.search(r"\(seen (\d+) times\)", ex.failure.message)
        if n:
            hits = sum(1 for r in ex.recording.steps if _REFCOUNT.search(r.label)
                       and "F refcount" in r.label)
            assert int(n.group(1)) <= hits


def test_list_names_threads_authors_and_links():
    rc, out, err = _cli("list")
    assert rc == 0, err
    fam = out.split("family lru_cache:")[1].split("\nfamily ")[0]
    assert ('seed thread: Minchan Kim, "[RFC 1/2] mm: disable LRU pagevec during the '
            'migration temporarily"') in fam
    assert "lore.kernel.org/linux-mm/20210310161429.399432-2-minchan@kernel.org" in fam
    # every patch of every variant says who wrote it and where, or that it is not recorded
    for ln in fam.splitlines():
        if "author:" in ln:
            assert "; link: " in ln
    rc, out, err = _cli("list", "--json")
    d = {f["family"]: f for f in json.loads(out)["families"]}["lru_cache"]
    assert d["thread"].startswith("Minchan Kim")
    v = {x["name"]: x for x in d["variants"]}
    src = {s["name"]: s for s in v["nested-skip-v2"]["sources"]}
    assert src["nested-skip-v2"]["author"] == "Minchan Kim"
    assert src["lru-cache-disable"]["link"].startswith("https://lore.kernel.org/")
