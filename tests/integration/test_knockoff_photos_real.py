"""Knockoff names printed on a real photo, scanned end to end (issue 10): ``detector scan`` with the real
EasyOCR reads each print and the rules flag it under the genuine brand; the genuine name stays allowed.

The names are our own (not rows of benchmarks/data/knockoffs), one per kind of change the rules learnt:
a pun, a word of a two-word name changed, a short name's look-alike letter, several cheap edits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from PIL import Image, ImageDraw, ImageFont

pytestmark = [
    pytest.mark.real,
    pytest.mark.filterwarnings("ignore:torch.ao.quantization is deprecated:DeprecationWarning"),
]

FONT_PATHS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
]
# A CC0 photo of a plain t-shirt (examples/README.md): the print goes on its chest.
BACKGROUND = REPO_ROOT / "examples" / "unbranded_plain.jpg"
CATALOG = """version: 1
brands:
  - name: Adidas
  - name: Tommy Hilfiger
  - name: Zara
  - name: Panasonic
  - name: Puma
"""
# file stem → (printed text, brand the flag must name; None: nothing may be flagged)
PRINTS = {
    "pun": ("ADIDIX", "Adidas"),
    "words": ("Tommy Holedragger", "Tommy Hilfiger"),
    "short": ("ZARI", "Zara"),
    "multi": ("PANASOMIK", "Panasonic"),
    "genuine": ("ADIDAS", None),
}


def _font() -> str:
    for path in FONT_PATHS:
        if Path(path).is_file():
            return path
    pytest.skip("DejaVu Sans Bold is not installed (Debian: fonts-dejavu-core; `make test` installs it)")


def _print(text: str, font_path: str, out: Path) -> None:
    img = Image.open(BACKGROUND).convert("RGB")
    draw = ImageDraw.Draw(img)
    size = 44
    font = ImageFont.truetype(font_path, size)
    while font.getlength(text) > img.width * 0.8:
        size -= 2
        font = ImageFont.truetype(font_path, size)
    x0, y0, x1, _ = draw.textbbox((0, 0), text, font=font)
    x, y = (img.width - (x1 - x0)) // 2, img.height // 3
    draw.text((x - x0, y - y0), text, font=font, fill=(20, 20, 24))
    img.save(out, quality=92)


def test_knockoff_prints_are_flagged_and_the_genuine_name_is_not(tmp_path: Path) -> None:
    font = _font()
    photos = tmp_path / "photos"
    photos.mkdir()
    for stem, (text, _) in PRINTS.items():
        _print(text, font, photos / f"{stem}.jpg")
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "catalog.yaml").write_text(CATALOG, encoding="utf-8")

    proc = subprocess.run(
        [sys.executable, "-m", "detector.cli", "scan", str(photos), "--catalog", str(catalog), "--logos", "none",
         "--no-progress"],
        check=False, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
    )
    assert proc.returncode == 1, proc.stderr  # something flagged
    records = {Path(r["path"]).stem: r for r in map(json.loads, proc.stdout.splitlines())}
    assert set(records) == set(PRINTS)
    for stem, (text, brand) in PRINTS.items():
        r = records[stem]
        read = [t["text"] for t in r["texts"]]
        flags = [(f["rule"], f["brand"]) for f in r["flags"]]
        if brand is None:
            assert r["decision"] == "allow" and flags == [], (stem, read, flags)
            assert [b["name"] for b in r["brands"]] == ["Adidas"], (stem, read)
            continue
        assert r["decision"] in ("review", "block"), (stem, read, flags)
        assert ("lookalike_brand_text", brand) in flags, (stem, read, flags)
        assert any(t["brand"] == brand and t["relation"] == "lookalike" for t in r["texts"]), (stem, r["texts"])
