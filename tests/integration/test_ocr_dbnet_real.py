"""The shipped text detector (PP-OCRv4's DB, ``ocr.text_detector: dbnet``) on real photos.

Marked ``real``: runs the DB detector and EasyOCR's recogniser (ONNX Runtime) on examples/. The
brand words it must find are what CRAFT finds there; BENCHMARKS.md ("Speed") compares the two
detectors on FlickrLogos photos.
"""

from __future__ import annotations

import re

import pytest
from conftest import REPO_ROOT

pytest.importorskip("onnxruntime", reason="the easyocr-onnx backend needs onnxruntime: pip install -e .")

pytestmark = pytest.mark.real

# The brand (or look-alike) word each example prints, as both detectors' boxes let the recogniser read it.
WORDS = {
    "genuine_adidas.jpg": "adidas",
    "genuine_nike.jpg": "NIKE",
    "mismatch_swoosh_puma.jpg": "PUMA",
    "misspelled_adibas.jpg": "Adibas",
    "misspelled_nlke.jpg": "NLKE",
    "replica_gucci.jpg": "GUCCI",
    "unbranded_hike.jpg": "hike",
}


@pytest.fixture(scope="module")
def ocr():
    from detector.ocr.onnx_models import EasyOcrOnnx

    ocr = EasyOcrOnnx(threads=1, detect_side=480, text_detector="dbnet")
    ocr.load()
    return ocr


@pytest.mark.parametrize("name", sorted(WORDS))
def test_dbnet_boxes_read_the_printed_word(ocr, name):
    from detector.io import load_image

    spans = ocr.read(load_image(REPO_ROOT / "examples" / name).image)
    # Punctuation aside: a stray quote from the box margin ('NLKE"') is the rules' tokeniser's to drop.
    assert WORDS[name] in [re.sub(r"\W", "", s.text) for s in spans]


def test_the_replica_vocabulary_is_read_too(ocr):
    from detector.io import load_image

    texts = [s.text.lower() for s in ocr.read(load_image(REPO_ROOT / "examples" / "replica_gucci.jpg").image)]
    assert any("mirror quality" in t for t in texts)


def test_no_craft_session_is_built_when_dbnet_finds_the_boxes(ocr):
    from detector.ocr.onnx_models import CraftSession

    reader = ocr._reader()
    assert not isinstance(getattr(reader, "detector", None), CraftSession)
    assert ocr.name.endswith("+ppocrv4-det.v2")
