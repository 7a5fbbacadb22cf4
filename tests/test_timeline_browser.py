"""The timeline in a real browser: Debian's chromium, driven by playwright
(.ci/run installs chromium; no browser download).  The HTML page must load
without errors, draw a lane per task and the failure, and a screenshot of it
must have content; the Chrome trace it embeds is what --perfetto writes."""

from __future__ import annotations

import json
import os

import pytest

from test_timeline import views  # noqa: F401  (the module-scoped fixture)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} missing: .ci/run installs Debian's chromium"
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def test_html_timeline_in_chromium(views, browser, tmp_path):  # noqa: F811
    d, _ = views
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((d / "t.html").as_uri())
    page.wait_for_selector("body[data-rendered='1']", timeout=10_000)
    assert errors == []
    assert all(u.startswith("file://") for u in requests), requests
    lanes = page.eval_on_selector_all(".lane-label", "els => els.map(e => e.textContent)")
    trace = json.loads((d / "t.json").read_text())
    want = [e["args"]["name"] for e in trace["traceEvents"]
            if e["ph"] == "M" and e["name"] == "thread_name" and e["tid"] < 100_000]
    assert want and set(want) | {"watched state"} == set(lanes), (want, lanes)
    assert page.is_visible("#failure")
    assert "FAILED property" in page.inner_text("#failure")
    assert page.query_selector("#failure-mark") is not None
    assert page.query_selector(".step.fail") is not None
    assert len(page.query_selector_all(".lock")) > 0
    assert len(page.query_selector_all(".step")) > 100
    # a click shows the step's label
    page.click(".step.fail")
    detail = page.inner_text("#detail")
    assert detail != "click a step for its label" and detail.startswith("step "), detail
    shot = tmp_path / "timeline.png"
    page.screenshot(path=str(shot), full_page=True)
    from PIL import Image
    img = Image.open(shot).convert("RGB")
    colors = img.getcolors(maxcolors=1 << 20)
    assert img.size[0] >= 800 and img.size[1] >= 200
    assert colors is not None and len(colors) > 20, "the screenshot is blank"
    # the failure's red and the steps' blue are on screen
    rgb = {c for _, c in colors}
    assert (198, 40, 40) in rgb and (92, 143, 214) in rgb
    page.close()


def test_perfetto_json_parses_in_chromium(views, browser):  # noqa: F811
    """The export loaded by the browser's own JSON parser, as the Perfetto
    UI's JSON importer does: an object with traceEvents, every event with
    the fields the importer reads."""
    d, _ = views
    page = browser.new_page()
    page.goto((d / "t.html").as_uri())
    text = (d / "t.json").read_text()
    bad = page.evaluate("""text => {
        const t = JSON.parse(text);
        if (!Array.isArray(t.traceEvents)) return ['no traceEvents'];
        return t.traceEvents.filter(e => !(typeof e.ph === 'string' && Number.isInteger(e.pid)
            && Number.isInteger(e.tid) && (e.ph === 'M' || Number.isFinite(e.ts))))
            .map(e => JSON.stringify(e));
    }""", text)
    assert bad == []
    page.close()
