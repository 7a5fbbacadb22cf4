"""The example family of examples/flags_race, used as a new user would: a
family file given with --family (no environment variable), its race found,
its trace replayed from another directory after the file is gone, its fix
judged as a user's patch; families from installed plugins (entry points)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EX = os.path.join(ROOT, "examples", "flags_race")
FAMILY = os.path.join(EX, "family.py")
FIX = os.path.join(EX, "atomic_uptodate.py")


def foliolab(*args, cwd):
    env = dict(os.environ)
    env.pop("FOLIOLAB_FAMILIES", None)
    return subprocess.run([sys.executable, "-m", "foliolab.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def test_family_file_race_trace_replays_anywhere(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    fam = work / "my_family.py"
    shutil.copy(FAMILY, fam)
    p = foliolab("explore", "uptodate-vs-isolate", "--family", "my_family.py", "--json",
                 "--trace-dir", "traces", cwd=work)
    assert p.returncode == 1, p.stderr
    d = json.loads(p.stdout)
    assert d["failure"]["property"] == "an isolated folio has PG_lru clear"
    trace = work / d["trace"]
    tr = json.loads(trace.read_text())
    assert tr["family_source"]["text"] == fam.read_text()
    assert tr["family_source"]["file"] == str(fam)
    # without the family file: another directory, no --family, no env var
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(str(trace), elsewhere / "t.json")
    fam.unlink()
    r = foliolab("replay", "t.json", cwd=elsewhere)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "reproduced: same failure" in r.stdout
    assert "PG_lru is set again" in r.stdout
    # the file back, but changed: named, and the recorded family replays
    fam.write_text(open(FAMILY).read() + "\n# edited\n")
    r = foliolab("replay", "t.json", cwd=elsewhere)
    assert r.returncode == 1, r.stderr
    assert f"family file {fam} changed since the trace was recorded" in r.stderr


def test_user_patch_column_is_not_claimed_as_expected(tmp_path):
    p = foliolab("compare", "flags_race", "--family", FAMILY, "--patch", FIX,
                 "--trace-dir", str(tmp_path), "--jobs", "1", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert "BUG @" in lines[1] and "safe k<=2" in lines[1]
    assert "v0+atomic-uptodate: no expected outcome" in p.stdout
    assert "v0+atomic-uptodate: every cell" not in p.stdout
    assert not any(ln.startswith("every cell as expected") for ln in lines)


def test_family_option_on_every_command(tmp_path):
    for args in (["list"], ["explore", "uptodate-vs-isolate", "-n", "1"],
                 ["compare", "uptodate-vs-isolate", "-n", "1", "--dfs-budget", "1"],
                 ["reproduce", "-n", "1", "--dfs-budget", "1"]):
        p = foliolab(*args, "--family", FAMILY, "--trace-dir" if args[0] != "list" else "--json",
                     *([str(tmp_path)] if args[0] != "list" else []), cwd=tmp_path)
        assert p.returncode in (0, 1), (args, p.stderr)
        assert "Traceback" not in p.stderr
    p = foliolab("list", "--family", str(tmp_path / "missing.py"), cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "no such file" in p.stderr
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1 +\n")
    p = foliolab("list", "--family", str(bad), cwd=tmp_path)
    assert p.returncode == 2 and "SyntaxError" in p.stderr and f"{bad}:1" in p.stderr
    nofam = tmp_path / "nofam.py"
    nofam.write_text("X = 1\n")
    p = foliolab("list", "--family", str(nofam), cwd=tmp_path)
    assert p.returncode == 2 and "defines no FAMILY" in p.stderr


def test_unknown_scenario_hints_at_family_option(tmp_path):
    p = foliolab("explore", "uptodate-vs-isolat", cwd=tmp_path)
    assert p.returncode == 2
    assert "--family FILE" in p.stderr


def test_families_from_entry_points(tmp_path, monkeypatch):
    import importlib.metadata as md

    from foliolab.explore import registry
    pkg = tmp_path / "my_plugin_fam.py"
    shutil.copy(FAMILY, pkg)
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = md.EntryPoint(name="flags", value="my_plugin_fam", group=registry.ENTRY_POINT_GROUP)
    real = md.entry_points

    def fake(**kw):
        if kw.get("group") == registry.ENTRY_POINT_GROUP:
            return [ep]
        return real(**kw)

    monkeypatch.setattr(md, "entry_points", fake)
    monkeypatch.setattr(registry, "_entry_points", None)
    # a --family FILE load of the same family by an earlier test in this
    # process would shadow the plugin
    monkeypatch.setattr(registry, "_files", {})
    try:
        fams = registry.families()
        assert "flags_race" in fams
        assert registry.family_source(fams["flags_race"])["file"] == str(pkg)
    finally:
        registry._entry_points = None
        sys.modules.pop("my_plugin_fam", None)


def test_version_is_the_installed_distributions(tmp_path):
    import importlib.metadata as md

    from foliolab.provenance import version
    assert version() == md.version("foliolab")
    # a folder named foliolab in the current directory changes nothing
    (tmp_path / "foliolab").mkdir()
    exe = os.path.join(os.path.dirname(sys.executable), "foliolab")
    if not os.path.exists(exe):
        return
    p = subprocess.run([exe, "--family", FAMILY, "explore", "uptodate-vs-isolate", "--json",
                        "--trace-dir", "t"], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 1, p.stderr
    assert json.loads(p.stdout)["provenance"]["foliolab"] == md.version("foliolab")
