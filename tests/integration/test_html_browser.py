"""The HTML pages of ``scan --format html`` and ``eval`` in a real browser (the system Chromium, headless).

Checked: no console error, every image decoded (naturalWidth > 0), the "flagged only" switch hides the allowed
photos and their table rows, and clicking a column header sorts the table. The detector's stages are the
unit tests' fakes (the pages are what is tested, not the models), so this runs in seconds. Skipped when
Playwright (dev extra) or Debian's ``chromium`` is absent.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, FakeOcr

from detector.cli import EXIT_FLAGGED, EXIT_OK, main

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Any:
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright: pip install -e '.[dev]'")
    if not Path(CHROMIUM).exists():
        pytest.skip("needs the system Chromium: apt-get install chromium (make system-deps does it)")
    with sync_api.sync_playwright() as pw:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def open_page(browser: Any, html: Path) -> tuple[Any, list[str]]:
    """The page loaded from ``html``, and the console errors and uncaught exceptions it raised."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(html.resolve().as_uri())
    page.wait_for_load_state("load")
    return page, errors


def check_page(page: Any, errors: list[str], risk_column: int) -> None:
    """Images decoded; the flagged-only switch; sorting by the risk column both ways."""
    images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    assert images and all(done and width > 0 for done, width in images), images
    allowed = page.locator("section.image.allow")
    assert allowed.count() > 0 and page.locator("section.image.block").count() > 0
    assert allowed.first.is_visible() and page.locator("tr.allow").first.is_visible()
    page.check("#flagged-only")
    assert not any(allowed.nth(i).is_visible() for i in range(allowed.count()))
    assert not page.locator("tr.allow").first.is_visible()
    assert page.locator("section.image.block").first.is_visible()
    page.uncheck("#flagged-only")
    header = page.locator("table.index th").nth(risk_column)
    cells = page.locator(f"table.index tbody tr td:nth-child({risk_column + 1})")
    for direction in ("ascending", "descending"):
        header.click()
        assert header.get_attribute("aria-sort") == direction
        risks = [float(v) for v in cells.evaluate_all("tds => tds.map(td => td.dataset.sort)")]
        assert risks == sorted(risks, reverse=direction == "descending") and len(set(risks)) > 1
    assert errors == []


def _fake_reads(fake_stages: Any) -> None:
    """REPLICA (blocked by the fake rules) on the 3rd, 4th and 6th photo read: some blocked, the rest allowed."""
    from detector.types import TextSpan

    def read(n: int, image: Any) -> list[TextSpan]:
        return [TextSpan("REPLICA" if n in (3, 4, 6) else "cotton", 0.9)]

    fake_stages.ocr = FakeOcr(per_call=read)


def test_scan_page_in_chromium(browser, fake_stages, tmp_path, capsys) -> None:
    _fake_reads(fake_stages)
    out = tmp_path / "scan.html"
    assert main(["scan", "--no-progress", str(REPO_ROOT / "examples"), "--format", "html", "-o", str(out)]) == EXIT_FLAGGED
    capsys.readouterr()
    page, errors = open_page(browser, out)
    check_page(page, errors, risk_column=2)
    page.screenshot(path=str(tmp_path / "scan.png"))
    assert (tmp_path / "scan.png").stat().st_size > 1000


def test_eval_page_in_chromium(browser, fake_stages, tmp_path, capsys) -> None:
    _fake_reads(fake_stages)
    out = tmp_path / "eval"
    labels = REPO_ROOT / "examples" / "labels.csv"
    assert main(["eval", str(labels), "--output", str(out), "--no-progress"]) == EXIT_OK
    capsys.readouterr()
    page, errors = open_page(browser, out / "report.html")
    assert page.locator("img.plot").count() == 2
    check_page(page, errors, risk_column=6)
