"""The README's examples are the program's output: every block introduced
by ``<!-- readme-example: ARGS -->`` is ``$ foliolab ARGS`` followed by
what that command prints on stdout (run here, in an empty directory; the
model hash, which changes with every change of the model, is masked)."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
HASH = re.compile(r"\(model [0-9a-f]{12}\)")


def _examples():
    lines = README.read_text().splitlines()
    out = []
    for i, ln in enumerate(lines):
        m = re.match(r"<!-- readme-example: (.*) -->$", ln)
        if not m:
            continue
        block = []
        for x in lines[i + 1:]:
            if x and not x.startswith("    "):
                break
            block.append(x[4:])
        while block and not block[-1]:
            block.pop()
        out.append((m.group(1).split(), block))
    return out


def test_readme_examples_are_real_output(tmp_path, monkeypatch):
    from foliolab.cli import run
    examples = _examples()
    assert examples, "no marked example in README.md"
    monkeypatch.chdir(tmp_path)
    for args, block in examples:
        assert block[0] == "$ foliolab " + " ".join(args)
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            run(args)
        got = out.getvalue().rstrip("\n").splitlines()
        want = block[1:]
        assert [HASH.sub("(model X)", x) for x in got] == \
            [HASH.sub("(model X)", x) for x in want], "README example is stale: regenerate it"
