"""The user's workflow (issue 12): hook points (list --functions, did you
mean), the fixes the baseline contains and their reverts."""

from __future__ import annotations

import contextlib
import io
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS_FAMILY = os.path.join(ROOT, "examples", "flags_race", "family.py")


def cli(*args):
    from foliolab.cli import run
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = run(list(args))
    return rc, out.getvalue(), err.getvalue()


def test_list_functions_names_the_hook_point_and_how_to_call_it():
    rc, out, _ = cli("list", "--functions", "folio_batch_add_and_need_flush")
    assert rc == 0
    assert "folio_batch_add_and_need_flush(fbatch, folio)" in out
    assert "plain: k.fn.folio_batch_add_and_need_flush(fbatch, folio)" in out
    assert "mm/swap.c; era v5.12; import from foliolab.mm.swap" in out
    rc, out, _ = cli("list", "--functions", "lru_add_drain_all", "--json")
    rows = json.loads(out)["functions"]
    row = [r for r in rows if r["name"] == "lru_add_drain_all"][0]
    assert row["yields"] is True and row["kernel_file"] == "mm/swap.c"
    # functions only a catalogue patch adds are hook points too
    rc, out, _ = cli("list", "--functions", "--json")
    assert any(r["added_by"] for r in json.loads(out)["functions"])


def test_misspelt_function_names_get_did_you_mean(tmp_path):
    rc, _, err = cli("list", "--functions", "lru_add_drian")
    assert rc == 2 and "did you mean 'lru_add_drain'" in err
    pf = tmp_path / "typo.py"
    pf.write_text("from foliolab.engine.kernel import Patch\n"
                  "PATCH = Patch('typo', title='t', summary='s')\n"
                  "@PATCH.wraps('folio_batch_add_and_need_flsh')\n"
                  "def f(k, orig, *a):\n"
                  "    return orig(*a)\n")
    rc, _, err = cli("explore", "readd-after-drain", "--patch", str(pf), "-n", "1",
                     "--trace-dir", str(tmp_path))
    assert rc == 2, err
    assert "did you mean 'folio_batch_add_and_need_flush'" in err
    assert err.count("\n") == 1


def test_list_shows_the_fixes_the_baseline_contains():
    rc, out, _ = cli("list")
    assert rc == 0
    assert "fixes the baseline contains:" in out
    assert "ad53f92eb416" in out and "drop it: --patch revert-ad53f92eb416" in out
    assert "968318261221" in out
    rc, out, _ = cli("list", "--json")
    fam = [f for f in json.loads(out)["families"] if f["family"] == "lru_cache"][0]
    assert any(x.startswith("ad53f92eb416") for x in fam["baseline_contains"])


def test_a_contained_fix_is_removable_by_its_revert():
    from foliolab.engine.machine import Machine
    from foliolab.mm.kernel import build_kernel
    from foliolab.mm.mmzone import MIGRATE_ISOLATE, MIGRATE_MOVABLE
    from foliolab.mm.page_alloc import set_pageblock_migratetype, setup_alloc_page_at
    from foliolab.patches import get_patch
    got = {}
    for patches in ((), (get_patch("revert-ad53f92eb416"),)):
        k = build_kernel(Machine(2), {}, patches)
        page = setup_alloc_page_at(k, 0x200)
        set_pageblock_migratetype(page, MIGRATE_ISOLATE)
        k.zone.nr_isolate_pageblock = 1
        # the type was read as MOVABLE before zone->lock
        got[bool(patches)] = k.fn.free_one_page_migratetype(k.zone, page, page.pfn,
                                                            MIGRATE_MOVABLE)
    assert got == {False: MIGRATE_ISOLATE, True: MIGRATE_MOVABLE}


def test_a_revert_is_accepted_by_patch_and_named_in_the_column(tmp_path):
    rc, out, err = cli("explore", "readd-after-drain", "--patch", "revert-ad53f92eb416",
                       "-s", "random", "-n", "1", "--json", "--no-shrink",
                       "--trace-dir", str(tmp_path))
    assert rc in (0, 1), err
    assert json.loads(out)["label"] == "v0+revert-ad53f92eb416"


@pytest.mark.parametrize("args", [["list", "x"], ["list", "--functions", "zzzz_nothing"]])
def test_list_input_errors(args):
    rc, _, err = cli(*args)
    assert rc == 2 and err.startswith("foliolab: error: ") and err.count("\n") == 1


def test_a_changed_model_is_named_not_nondeterminism(tmp_path):
    """A trace recorded by another model that no longer replays: the replay
    says the model changed (exit 2), not NONDETERMINISM (exit 3)."""
    rc, out, err = cli("--family", FLAGS_FAMILY, "explore", "uptodate-vs-isolate", "--json",
                       "--trace-dir", str(tmp_path))
    assert rc == 1, err
    path = json.loads(out)["trace"]
    tr = json.loads(open(path).read())
    tr["failure"]["message"] = "something the model no longer says"
    tr["shrunk"] = None
    same = tmp_path / "same.json"
    same.write_text(json.dumps(tr))
    rc, out, _ = cli("replay", str(same))
    assert rc == 3 and "NONDETERMINISM" in out
    tr["provenance"]["model_hash"] = "000000000000"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(tr))
    rc, out, err = cli("replay", str(other))
    assert rc == 2, (out, err)
    assert "the model changed since the trace was recorded" in err
    assert "model 000000000000" in err and "NONDETERMINISM" not in out
