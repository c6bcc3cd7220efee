"""What the logo stages share: the resize, the box clamp, the cache folder, and the one candidate type."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector.logos.candidate import LogoCandidate
from detector.logos.geometry import cache_dir, clamp_box, scale_to_side
from detector.types import Box, LogoMatch


@pytest.mark.parametrize(
    ("size", "side", "upscale", "expected_size", "expected_scale"),
    [
        ((1000, 500), 640, False, (640, 320), 0.64),
        ((500, 1000), 640, False, (320, 640), 0.64),
        ((300, 200), 640, False, (300, 200), 1.0),  # already small enough: returned as it is
        ((100, 50), 200, True, (200, 100), 2.0),
        ((2000, 1), 640, False, (640, 1), 0.32),  # never below one pixel
    ],
)
def test_scale_to_side(
    size: tuple[int, int], side: int, upscale: bool, expected_size: tuple[int, int], expected_scale: float
) -> None:
    image = Image.new("RGB", size)
    out, scale = scale_to_side(image, side, upscale=upscale)
    assert out.size == expected_size and scale == pytest.approx(expected_scale)
    if expected_scale == 1.0:
        assert out is image


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((10, 20, 30, 40), Box(10, 20, 30, 40)),
        ((-5, -1, 120, 40), Box(0, 0, 100, 40)),
        (Box(90, 10, 150, 60), Box(90, 10, 100, 50)),
        ((120, 10, 150, 20), None),  # wholly right of the image
        ((10, 50, 20, 80), None),  # starts at the bottom edge: no area inside
    ],
)
def test_clamp_box(box: tuple[float, ...] | Box, expected: Box | None) -> None:
    assert clamp_box(box, (100, 50)) == expected


def test_cache_dir_follows_xdg_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("keypoints") == tmp_path / "xdg" / "detector" / "keypoints"
    assert cache_dir("index", tmp_path / "mine") == tmp_path / "mine" / "index"
    monkeypatch.setenv("XDG_CACHE_HOME", "")  # empty means unset
    assert cache_dir("index") == Path.home() / ".cache" / "detector" / "index"


@pytest.mark.parametrize(("score", "reported"), [(0.91, 0.91), (-0.3, 0.0), (1.2, 1.0)])
def test_a_candidate_becomes_a_match_with_its_score_clipped(score: float, reported: float) -> None:
    c = LogoCandidate("Nike", "marks/nike.png", Box(-4, 2, 30, 40), score, "logos.shape.v1", margin=0.2)
    assert c.to_match() == LogoMatch("Nike", reported, Box(-4, 2, 30, 40), "marks/nike.png")
    assert c.to_match(Box(0, 2, 30, 40)).box == Box(0, 2, 30, 40)


@pytest.mark.parametrize(
    ("fields", "error"),
    [({"brand": ""}, "needs a brand"), ({"score": float("nan")}, "finite number")],
)
def test_a_candidate_is_checked(fields: dict, error: str) -> None:
    args = {"brand": "Nike", "mark": "m.png", "box": Box(0, 0, 1, 1), "score": 0.5, "stage": "s"} | fields
    with pytest.raises(ValueError, match=error):
        LogoCandidate(**args)


def test_square_windows_cover_every_scale_and_end_with_the_whole_photo() -> None:
    from detector.logos.geometry import square_windows

    boxes = square_windows((640, 480), (0.5, 1.0))
    sides = boxes[:, 2] - boxes[:, 0]
    assert np.allclose(sides, boxes[:, 3] - boxes[:, 1])  # squares
    assert set(np.round(sides[:-1])) == {240.0, 480.0}
    assert boxes[-1].tolist() == [0.0, -80.0, 640.0, 560.0]  # the whole photo, centred, past the short side
    # Windows of one scale reach both far edges.
    half = boxes[np.isclose(sides, 240)]
    assert half[:, 0].min() == 0 and half[:, 2].max() == 640 and half[:, 1].min() == 0 and half[:, 3].max() == 480


def test_crop_resized_reflects_outside_the_photo() -> None:
    from detector.logos.geometry import crop_resized

    pixels = np.zeros((40, 80, 3), np.uint8)
    pixels[:, :40] = 255  # left half white
    out = crop_resized(pixels, np.array([[0, 0, 40, 40], [0, -20, 80, 60]], np.float32), 16)
    assert out.shape == (2, 16, 16, 3)
    assert out[0].min() == 255  # the white half
    assert out[1][:, :6].min() == 255 and out[1][:, 10:].max() == 0  # reflected rows keep left white, right black


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (1000, 2), (2, 1000), (5, 300)])
def test_windows_of_tiny_and_thin_photos_are_cut_without_error(size: tuple[int, int]) -> None:
    from detector.logos.geometry import crop_resized, square_windows

    pixels = np.full((size[1], size[0], 3), 90, np.uint8)
    out = crop_resized(pixels, square_windows(size, (0.35, 0.5, 0.7, 1.0)), 16)
    assert out.shape[1:] == (16, 16, 3) and len(out) >= 1 and (out == 90).all()
