"""The EasyOCR adapter's second reading, with the recogniser faked: only agreement raises confidence."""

from __future__ import annotations

import pytest
from PIL import Image

from detector.ocr.easyocr import EasyOcr
from detector.types import Box, TextSpan


@pytest.mark.parametrize(
    ("second", "expected_conf"),
    [
        (TextSpan("ADIBAS", 0.98), 0.98),  # same word, case and all ignored: confirmed
        (TextSpan("Adi bas", 0.95), 0.95),  # spacing ignored
        (TextSpan("Adidas", 0.99), 0.45),  # a different reading: the first stands, still doubtful
        (TextSpan("Adibas", 0.30), 0.45),  # agreeing but less sure: nothing gained
        (None, 0.45),  # nothing read
    ],
    ids=["agrees", "agrees-spacing", "disagrees", "less-sure", "nothing"],
)
def test_second_reading(monkeypatch, second, expected_conf):
    ocr = EasyOcr()
    crops: list[tuple[int, int]] = []

    def fake_read_word(image):
        crops.append(image.size)
        return second

    monkeypatch.setattr(ocr, "read_word", fake_read_word)
    first = TextSpan("Adibas", 0.45, Box(100, 50, 220, 90))
    out = ocr._second_reading(Image.new("RGB", (400, 300)), first)
    assert out.text == "Adibas" and out.box == first.box
    assert out.confidence == pytest.approx(expected_conf)
    assert crops and crops[0][1] == 64  # re-read at a fixed height


def test_tiny_boxes_are_not_re_read(monkeypatch):
    ocr = EasyOcr()
    monkeypatch.setattr(ocr, "read_word", lambda image: pytest.fail("should not re-read"))
    span = TextSpan("x", 0.2, Box(0, 0, 2, 2))
    assert ocr._second_reading(Image.new("RGB", (50, 50)), span) is span
