"""The README's examples are the program's output: every block introduced
by ``<!-- readme-example: ARGS -->`` is ``$ foliolab ARGS`` followed by
what that command prints on stdout (run here, in an empty directory; the
model hash, which changes with every change of the model, is masked)."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

from docblocks import marked_blocks

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
HASH = re.compile(r"\(model [0-9a-f]{12}\)")


def _examples():
    return [(m.group(1).split(), block)
            for m, block in marked_blocks(README, r"<!-- readme-example: (.*) -->$")]


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
