"""docs/ stands alone: the scenario catalogue is what the code generates,
every docs/ file a document names exists, and nothing points at files a
user does not have (SCENARIOS.md, ARCHITECTURE.md)."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_the_scenario_catalogue_is_current():
    import importlib

    from foliolab.report.catalogue import catalogue_markdown
    from foliolab.scenarios import FAMILY_MODULES
    fams = [importlib.import_module(f"foliolab.scenarios.{n}").FAMILY for n in FAMILY_MODULES]
    want = catalogue_markdown(fams)
    got = (ROOT / "docs" / "scenarios.md").read_text()
    assert got == want, ("docs/scenarios.md is stale: regenerate it with "
                         "`foliolab list --markdown > docs/scenarios.md`")


def _texts():
    files = [ROOT / "README.md", ROOT / "DEVELOPERS.md", *sorted((ROOT / "docs").glob("*.md"))]
    files += sorted((ROOT / "foliolab").rglob("*.py"))
    return [(f, f.read_text()) for f in files]


def test_documents_named_exist():
    missing = []
    for f, text in _texts():
        for name in set(re.findall(r"\bdocs/[\w.-]+\.md\b", text)):
            if not (ROOT / name).is_file():
                missing.append(f"{f.relative_to(ROOT)}: {name}")
    assert not missing, missing


def test_no_reference_to_files_users_lack():
    bad = [str(f.relative_to(ROOT)) for f, text in _texts()
           if "SCENARIOS.md" in text or "ARCHITECTURE.md" in text]
    assert not bad, bad
