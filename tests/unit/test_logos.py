"""LogoMatcher with a tiny fake embedder: the stage contract, thresholding, boxes in image coordinates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector.errors import CatalogError
from detector.logos.candidate import LogoCandidate
from detector.logos.cnn import LogoMatcher, build_index
from detector.logos.geometry import nms, square_with_context
from detector.logos.index import ReferenceIndex
from detector.stages import LogoStage
from detector.types import LogoMatch
from tests.unit.test_index import TinyEmbedder, _catalog


@pytest.fixture()
def matcher(tmp_path: Path) -> LogoMatcher:
    cat = _catalog(tmp_path, {"Red": (220, 20, 20), "Blue": (20, 20, 220)})
    emb = TinyEmbedder()
    return LogoMatcher(
        emb, build_index(cat, emb), threshold=0.9, window_fractions=(0.3, 0.6), window_aspects=(1.0,)
    )


def test_is_a_logo_stage_named_after_its_embedder(matcher: LogoMatcher) -> None:
    assert isinstance(matcher, LogoStage)
    assert matcher.name == "logos.tiny-colour.v1.v1"


def test_finds_a_red_patch_as_red_and_nothing_on_grey(matcher: LogoMatcher) -> None:
    img = Image.new("RGB", (400, 300), (128, 128, 128))
    img.paste(Image.new("RGB", (90, 90), (220, 20, 20)), (250, 40))
    found = matcher.find(img)
    assert found and isinstance(found[0], LogoMatch)
    assert found[0].brand == "Red" and found[0].mark == "marks/red.png"
    b = found[0].box
    assert 0 <= b.x1 < b.x2 <= 400 and 0 <= b.y1 < b.y2 <= 300
    assert b.x2 > 250 and b.y1 < 130  # the box covers the patch side of the image
    assert all(0.0 <= m.score <= 1.0 for m in found)
    assert matcher.find(Image.new("RGB", (400, 300), (128, 128, 128))) == []


def test_threshold_one_reports_nothing(matcher: LogoMatcher) -> None:
    matcher.threshold = 1.0
    img = Image.new("RGB", (200, 200), (128, 128, 128))
    img.paste(Image.new("RGB", (60, 60), (220, 60, 20)), (20, 20))
    cands = matcher.candidates(img)
    assert cands and max(c.score for c in cands) < 1.0  # there are candidates...
    assert all(isinstance(c, LogoCandidate) and c.stage == matcher.name for c in cands)
    assert matcher.find(img) == []  # ...but none clears the threshold


def test_index_of_another_embedder_is_refused() -> None:
    other = ReferenceIndex(8, "someone-else.v1", "1" * 64)
    with pytest.raises(CatalogError, match="rebuild it with `detector catalog index"):
        LogoMatcher(TinyEmbedder(), other)


def test_square_with_context_stays_inside_the_image() -> None:
    x1, y1, x2, y2 = square_with_context(np.array([90, 0, 100, 40.0]), (100, 50), 0.15)
    assert x2 - x1 == pytest.approx(y2 - y1)
    assert 0 <= x1 and x2 <= 100 and 0 <= y1


def test_nms_drops_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float32)
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), iou=0.5, limit=5) == [0, 2]
