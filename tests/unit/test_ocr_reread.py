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


def test_the_box_without_its_margin_is_read_when_the_padded_crop_does_not_confirm(monkeypatch):
    """A loose box holding a mark's edge ('NLKE"' from a swoosh's tip): the margin-free crop confirms."""
    ocr = EasyOcr()
    seen: list[tuple[int, int]] = []
    readings = iter([TextSpan('NLKE"', 0.52), TextSpan("NLKE", 0.91)])

    def fake_read_word(image):
        seen.append(image.size)
        return next(readings)

    monkeypatch.setattr(ocr, "read_word", fake_read_word)
    first = TextSpan('NLKE"', 0.54, Box(100, 60, 280, 120), alternatives=())
    out = ocr._second_reading(Image.new("RGB", (400, 300)), first)
    assert out.confidence == pytest.approx(0.91) and out.text == 'NLKE"' and out.alternatives == ()
    # padded crop: 192 x 72 (6 px around); tight: 170 x 50 (EasyOCR's 5 px margin off); both at 64 px high
    assert seen == [(round(192 * 64 / 72), 64), (round(170 * 64 / 50), 64)]


def test_a_confirmed_padded_reading_needs_no_tight_one(monkeypatch):
    ocr = EasyOcr()
    calls = []
    monkeypatch.setattr(ocr, "read_word", lambda image: calls.append(1) or TextSpan("NIKE", 0.97))
    out = ocr._second_reading(Image.new("RGB", (400, 300)), TextSpan("NIKE", 0.5, Box(100, 60, 280, 120)))
    assert out.confidence == pytest.approx(0.97) and calls == [1]


def test_only_spans_a_stage_could_act_on_are_read_twice(monkeypatch):
    from detector.pipeline import reread_filter

    class Rules:
        def could_matter(self, text: str) -> bool:
            return "nlke" in text.lower()

    class TextLogos:
        reads_text = True

        def could_matter(self, text: str) -> bool:
            return text == "swoosh"

    keep = reread_filter(Rules(), TextLogos())
    assert keep is not None and keep("NLKE") and keep("swoosh") and not keep("x7 ~")
    assert reread_filter(Rules(), object())("swoosh") is False  # a logo stage that reads no text: rules alone
    assert reread_filter(object(), TextLogos()) is None  # a rules stage that cannot say: every span

    ocr = EasyOcr()
    ocr.reread_if = keep
    reread: list[str] = []
    monkeypatch.setattr(ocr, "_second_reading", lambda image, span: reread.append(span.text) or span)
    monkeypatch.setattr(ocr, "_reader", lambda: None)
    monkeypatch.setattr(ocr, "_detector", lambda: None)
    raw = [([[0, 0], [60, 0], [60, 20], [0, 20]], "NLKE", 0.5), ([[0, 30], [60, 30], [60, 50], [0, 50]], "x7 ~", 0.4)]
    monkeypatch.setattr("detector.ocr.easyocr.read_photo", lambda *a, **k: raw)
    assert [s.text for s in ocr.read(Image.new("RGB", (100, 60)))] == ["NLKE", "x7 ~"]
    assert reread == ["NLKE"]
