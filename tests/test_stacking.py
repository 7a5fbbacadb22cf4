"""A user's patch that replaces a function the variant's patches already
replaced is warned about, naming both; columns carry the patch's name."""

from __future__ import annotations

import contextlib
import io
import json


def _cli(*args):
    from foliolab.cli import run
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = run(list(args))
    return rc, out.getvalue(), err.getvalue()


MINE = (
    "from foliolab.engine.kernel import Patch\n"
    "from foliolab.patches import get_patch\n"
    "PATCH = Patch('mine', title='t', summary='s')\n"
    "PATCH.replaces('lru_add_drain_all')(get_patch('lru-cache-disable')"
    ".replaced['lru_add_drain_all'])\n")


def test_a_user_patch_over_a_variant_patch_is_warned_about(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine_file.py").write_text(MINE)
    rc, out, err = _cli("explore", "readd-after-drain", "--variant", "lru-cache-disable",
                        "--patch", "mine_file.py", "-n", "1", "--no-progress", "--json",
                        "--trace-dir", "traces")
    assert rc in (0, 1), err
    warn = [ln for ln in err.splitlines() if "warning" in ln]
    assert len(warn) == 1, err
    assert "lru-cache-disable+mine" in warn[0]           # the patch's name, not the file's
    assert "mine (mine_file.py)" in warn[0] and "lru_add_drain_all" in warn[0]
    assert "lru-cache-disable already replaced" in warn[0]
    assert json.loads(out)["label"] == "lru-cache-disable+mine"


def test_no_warning_for_a_patch_over_the_baseline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine_file.py").write_text(MINE)
    rc, out, err = _cli("explore", "readd-after-drain", "--variant", "v0",
                        "--patch", "mine_file.py", "-n", "1", "--no-progress", "--json",
                        "--trace-dir", "traces")
    assert "warning" not in err
