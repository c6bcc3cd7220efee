"""Annotated evidence images: boxes land where the report says, the footer names the decision."""

from __future__ import annotations

import numpy as np
from conftest import flagged_report
from PIL import Image

from detector.evidence import annotate, write_evidence
from detector.types import Flag, ImageReport, Severity


def test_annotate_draws_boxes_and_adds_a_footer():
    img = Image.new("RGB", (200, 160), (255, 255, 255))
    out = annotate(img, flagged_report())
    assert out.width == 200 and out.height > 160  # footer below the photo
    arr = np.asarray(out)
    assert tuple(arr[25, 10]) != (255, 255, 255)  # logo box outline at x1
    assert tuple(arr[115, 100]) != (255, 255, 255)  # text box outline at x1
    assert tuple(arr[150, 150]) == (255, 255, 255)  # untouched inside the photo away from boxes
    assert np.asarray(img).min() == 255  # the input is not modified


def test_write_evidence_names_files_by_stem_and_hash(tmp_path):
    src = tmp_path / "photo.png"
    Image.new("RGB", (200, 160), (200, 200, 200)).save(src)
    target = write_evidence(src, flagged_report(str(src)), tmp_path / "ev")
    assert target is not None and target.name == "photo-abababab.evidence.jpg"
    assert Image.open(target).width == 200
    assert write_evidence(src, ImageReport.failed(str(src), "bad"), tmp_path / "ev") is None


def test_long_flag_messages_wrap_inside_the_image_width():
    from detector.evidence import _font, _wrap

    message = "Nike logo with the name of another brand, Puma ('PUMA', on or beside it); no Puma logo in the photo"
    font = _font(16)
    lines = _wrap(f"[block] logo_text_mismatch: {message}", font, 300)
    assert len(lines) > 1 and all(font.getlength(line) <= 300 for line in lines)
    assert " ".join(line.strip() for line in lines) == f"[block] logo_text_mismatch: {message}"
    short = flagged_report()
    long = ImageReport(**{**short.__dict__, "flags": (Flag("logo_text_mismatch", Severity.BLOCK, message, brand="Nike"),)})
    img = Image.new("RGB", (320, 160), (255, 255, 255))
    assert annotate(img, long).height > annotate(img, short).height  # the footer grew instead of cutting the text
