"""Screenshot an HTML page of the detector (scan --format html, eval's report.html) in headless Chromium.

    python scripts/screenshot_html.py PAGE.html OUT.png [--height 900]

Used for docs/scan-report.png and docs/eval-report.png (README): the top of the page (summary, index table),
as a reviewer first sees it. Needs Playwright (dev extra) and Debian's `chromium`; no browser is downloaded.
"""

from __future__ import annotations

import argparse
import io
import shutil
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("page", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--height", type=int, default=900, help="viewport height in CSS pixels (default: %(default)s)")
    ap.add_argument("--flagged-only", action="store_true", help="tick the page's 'flagged only' switch first")
    args = ap.parse_args(argv)
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                     args=["--no-sandbox"])  # root in a container: no sandbox
        page = browser.new_page(viewport={"width": 1150, "height": args.height})
        page.goto(args.page.resolve().as_uri())
        if args.flagged_only:
            page.check("#flagged-only")
        png = page.screenshot()
        browser.close()
    # A palette PNG: a screenshot of text and flat colours stays a few hundred kB at most.
    Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128).save(args.out, optimize=True)
    print(f"{args.out}: {args.out.stat().st_size // 1024} kB")


if __name__ == "__main__":
    main()
