"""docs/tutorial.md runs: every `<!-- tutorial-file: NAME -->` block is
written, every `<!-- tutorial-run: exit=N expect="..." -->` command is run,
in order, in one empty directory, as a user runs them (a separate process,
no FOLIOLAB_FAMILIES), and must exit with N and print every quoted line."""

from __future__ import annotations

import os
import pathlib
import re
import shlex
import subprocess
import sys

from docblocks import marked_blocks

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "tutorial.md"
MARK = re.compile(r"<!-- tutorial-(file|run): (.*) -->$")
EXPECT = re.compile(r'expect="((?:[^"\\]|\\.)*)"')


def steps():
    out = []
    for m, block in marked_blocks(DOC, MARK.pattern):
        if m.group(1) == "file":
            out.append(("file", m.group(2).strip(), "\n".join(block) + "\n"))
        else:
            attrs = m.group(2)
            code = int(re.search(r"exit=(\d+)", attrs).group(1))
            expects = [e.replace('\\"', '"') for e in EXPECT.findall(attrs)]
            assert block[0].startswith("$ "), block[0]
            out.append(("run", block[0][2:], (code, expects)))
    return out


def test_the_tutorial_runs(tmp_path):
    env = dict(os.environ)
    for v in ("FOLIOLAB_FAMILIES", "FOLIOLAB_DEBUG", "PYTEST_ADDOPTS"):
        env.pop(v, None)
    env["FOLIOLAB_EXAMPLES"] = ""
    done = []
    all_steps = steps()
    assert sum(1 for s in all_steps if s[0] == "run") >= 10
    for kind, what, arg in all_steps:
        if kind == "file":
            (tmp_path / what).write_text(arg)
            done.append(f"wrote {what}")
            continue
        argv = shlex.split(what)
        if argv[0] == "foliolab":
            argv = [sys.executable, "-m", "foliolab.cli", *argv[1:]]
        elif argv[0] == "pytest":
            argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "-p", "no:xdist", *argv[1:]]
        else:
            raise AssertionError(f"the tutorial runs {argv[0]}: not a foliolab command")
        p = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=900)
        code, expects = arg
        out = p.stdout + p.stderr
        assert p.returncode == code, (what, p.returncode, out[-3000:], done)
        for e in expects:
            assert e in out, (what, e, out[-3000:])
        done.append(what)
