"""The trained logo embedder, really run: its weights are checked, it finds marks on real photos and close-ups.

Loads ``models/logo_embedder/mobilenet_v2-logo-ft.v1.pt`` (sha256 pinned in the manifest). The pasted-mark
test uses a CC0 clothing photo from ../shared/data; the close-ups render bundled-catalog marks filling the
frame (``benchmarks/logo_closeups.py``). Marked ``real``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, SHARED_DATA, perspective
from PIL import Image, ImageFilter

from detector.errors import CorruptModel, MissingModel
from detector.types import Box

pytestmark = pytest.mark.real

NAME = "mobilenet_v2-logo-ft.v1"
JUMPER = SHARED_DATA / "photos" / "clothing" / "longsleeve" / "20e44d00-fc8c-46d9-9349-c931850ec57a.jpg"
# Plain symbols and roundels: the marks keypoints and silhouettes miss.
CLOSEUP_BRANDS = ("Nike", "Apple", "McDonald's", "BMW", "Starbucks", "Vodafone", "Puma", "Adidas", "Target", "Volkswagen")


def test_weights_are_hash_checked_and_a_missing_file_says_where_it_lives(tmp_path: Path, monkeypatch) -> None:
    from detector.logos.embed import create_embedder
    from detector.logos.embed.manifest import TRAINED

    src = REPO_ROOT / "models" / TRAINED[NAME].relpath
    dest = tmp_path / TRAINED[NAME].relpath
    dest.parent.mkdir(parents=True)
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    monkeypatch.setenv("DETECTOR_MODELS_DIR", str(tmp_path))
    with pytest.raises(CorruptModel, match="sha256"):
        create_embedder(NAME)
    dest.unlink()
    with pytest.raises(MissingModel, match="models/"):
        create_embedder(NAME)
    shutil.copyfile(src, dest)
    emb = create_embedder(NAME)
    v = emb.embed([Image.new("RGB", (90, 60), (200, 30, 30))])
    assert v.shape == (1, emb.dim) and np.isclose(np.linalg.norm(v), 1.0, atol=1e-5)
    # The traced, frozen network gives the eager network's vectors.
    crops = np.random.default_rng(0).integers(0, 256, (3, emb.input_size, emb.input_size, 3), dtype=np.uint8)
    assert np.abs(emb._forward(crops) - emb._forward(crops, eager=True)).max() < 1e-5
    assert emb.background.shape[1] == emb.dim


@pytest.fixture(scope="module")
def cnn_stage(tmp_path_factory: pytest.TempPathFactory):
    from detector.catalog import load_catalog
    from detector.logos.cnn import LogoMatcher

    return LogoMatcher.default(load_catalog(), embedder=NAME, cache_dir=tmp_path_factory.mktemp("cache"))


def test_a_printed_mark_is_found_where_it_was_printed_and_the_bare_photo_is_quiet(cnn_stage) -> None:
    if not JUMPER.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA} (expected ../shared beside the repo root)")
    from detector.catalog import load_catalog

    with Image.open(JUMPER) as im:
        photo = im.convert("RGB")
    photo.thumbnail((640, 640))
    cat = load_catalog()
    brand = cat.brand("McDonald's")
    mark = cat.mark_image(brand, brand.marks[0]).convert("RGBA")
    mark.thumbnail((int(0.35 * min(photo.size)),) * 2)
    mark = perspective(mark, 0.2).filter(ImageFilter.GaussianBlur(1.0))
    x, y = int(0.35 * photo.width), int(0.3 * photo.height)
    printed = photo.copy()
    printed.paste(mark, (x, y), mark)
    found = cnn_stage.find(printed)
    assert found and found[0].brand == "McDonald's", f"found {[(m.brand, round(m.score, 3)) for m in found]}"
    assert found[0].box.iou(Box(x, y, x + mark.width, y + mark.height)) > 0.2
    assert cnn_stage.find(photo) == []


def test_close_ups_of_plain_symbols_are_found(cnn_stage) -> None:
    """A mark filling 60-100 % of the frame, cut by its edges, both polarities, plain or textured ground."""
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    from logo_closeups import VARIANTS, closeup

    from detector.catalog import load_catalog

    cat = load_catalog()
    rng = np.random.default_rng(0)
    results = []
    for name in CLOSEUP_BRANDS:
        brand = cat.brand(name)
        mark = cat.mark_image(brand, brand.marks[0])
        for variant in VARIANTS:
            found = cnn_stage.find(closeup(mark, variant, rng))
            results.append((name, variant, found[0].brand if found else None))
    right = [r for r in results if r[0] == r[2]]
    assert len(right) >= 0.9 * len(results), [r for r in results if r[0] != r[2]]
