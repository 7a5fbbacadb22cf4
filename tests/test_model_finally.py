"""Model code has no try/finally.

The kernel has no exceptions; a model function that wraps a yield in
try/finally runs its finally clause when the search abandons a run half-way
(a sleep-set-blocked DFS run, a failure in another task) and the garbage
collector closes the generator later -- against a dead kernel, with another
task current.  gup.py's __gup_longterm_locked() did, and every abandoned
gup_longterm run printed a KeyError ("Exception ignored in ...")."""

import ast
import pathlib

import foliolab

ROOT = pathlib.Path(foliolab.__file__).parent


def test_no_finally_in_model_code():
    found = []
    for sub in ("mm", "patches", "scenarios"):
        for path in sorted((ROOT / sub).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Try) and node.finalbody:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, f"try/finally in model code: {found}"

