"""The ONNX backend against the torch one on real images: same words on examples/, ICDAR accuracy, the cache.

Marked ``real``: it exports EasyOCR's nets to ONNX on first use (into the user's cache folder, seconds on
a quiet machine) and runs both backends on the CPU. The ICDAR crops come from ../shared/data and are
skipped when it is absent.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from PIL import Image

pytest.importorskip("onnxruntime", reason="the easyocr-onnx backend needs onnxruntime: pip install -e .")

pytestmark = [
    pytest.mark.real,
    pytest.mark.filterwarnings("ignore:torch.ao.quantization is deprecated:DeprecationWarning"),
]

EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.jpg"))
# Every 33rd ICDAR 2015 training crop with a legible word (gt.csv order, "###" rows left out): a fixed
# 60-crop sample, small enough for both backends to read it in well under a minute.
ICDAR_STEP, ICDAR_CROPS = 33, 60


@pytest.fixture(scope="module")
def torch_ocr():
    from detector.ocr.easyocr import EasyOcr

    ocr = EasyOcr(threads=1)
    ocr.load()
    return ocr


@pytest.fixture(scope="module")
def onnx_ocr():
    from detector.ocr.onnx_models import EasyOcrOnnx

    ocr = EasyOcrOnnx(threads=1)
    ocr.load()
    return ocr


def _words(spans) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.text for s in spans]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_both_backends_read_the_same_words_on_the_examples(torch_ocr, onnx_ocr, path):
    from detector.io import load_image

    image = load_image(path).image
    torch_spans, onnx_spans = torch_ocr.read(image), onnx_ocr.read(image)
    assert _words(onnx_spans) == _words(torch_spans)
    for a, b in zip(torch_spans, onnx_spans):
        assert a.box is not None and b.box is not None and a.box.iou(b.box) > 0.9
        assert abs(a.confidence - b.confidence) < 0.1


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def test_icdar_word_accuracy_within_one_point_of_torch(torch_ocr, onnx_ocr, shared_data):
    folder = shared_data / "ocr" / "icdar2015-words-train"
    with (folder / "gt.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["text"] != "###"][::ICDAR_STEP][:ICDAR_CROPS]
    assert len(rows) == ICDAR_CROPS
    right = {"torch": 0, "onnx": 0}
    for row in rows:
        crop = Image.open(folder / "images" / row["file"]).convert("RGB")
        for name, ocr in (("torch", torch_ocr), ("onnx", onnx_ocr)):
            read = " ".join(_words(ocr.read(crop)))
            right[name] += _norm(read) == _norm(row["text"])
    torch_acc, onnx_acc = (100 * right[k] / len(rows) for k in ("torch", "onnx"))
    assert abs(onnx_acc - torch_acc) <= 1.0, f"torch {torch_acc:.1f} %, onnx {onnx_acc:.1f} %"
    assert torch_acc > 20  # the sample is readable at all (EasyOCR reads ~35 % of ICDAR 2015 words)


def test_second_construction_reuses_the_exported_files(onnx_ocr):
    from detector.logos.geometry import cache_dir
    from detector.ocr import onnx_models as om
    from detector.ocr.easyocr import weights_directory

    folder = cache_dir(om.CACHE_KIND)
    paths = om.export_models(weights_directory(), om.QUANTISE)
    stamps = {p: p.stat().st_mtime_ns for p in paths.values()}
    om._HASHES.clear()  # a fresh process: hashes are taken again
    assert om.export_models(weights_directory(), om.QUANTISE) == paths
    assert {p: p.stat().st_mtime_ns for p in paths.values()} == stamps
    manifest = json.loads((folder / om.MANIFEST).read_text(encoding="utf-8"))
    for path in paths.values():
        entry = manifest["files"][path.name]
        assert entry["sha256"] == om._sha256(path)
        source = Path(weights_directory()) / entry["key"]["source"]["file"]
        assert entry["key"]["source"]["sha256"] == om._sha256(source)
    assert manifest["versions"]["onnxruntime"]


def test_detector_names_the_onnx_backend(onnx_ocr):
    from detector.config import Config, OcrConfig
    from detector.pipeline import Detector
    from detector.stages import NoLogos, NoRules

    detector = Detector(logos=NoLogos(), rules=NoRules(), config=Config(ocr=OcrConfig(backend="easyocr-onnx")))
    assert "onnx" in detector.stages["ocr"]


def test_a_corrupt_cached_file_is_exported_again_with_the_real_exporter(tmp_path):
    """The real CRAFT/english_g2 export into a private cache: damage one file, the next build repairs it."""
    from detector.ocr import onnx_models as om
    from detector.ocr.easyocr import weights_directory

    paths = om.export_models(weights_directory(), om.QUANTISE, tmp_path)
    target = paths["english_g2"]
    target.write_bytes(target.read_bytes()[:1000])
    repaired = om.export_models(weights_directory(), om.QUANTISE, tmp_path)
    manifest = json.loads((tmp_path / om.MANIFEST).read_text(encoding="utf-8"))
    assert repaired["english_g2"].stat().st_size > 1000
    assert manifest["files"][target.name]["sha256"] == om._sha256(target)
    om.session(target, 1, rebuild=lambda: pytest.fail("a repaired file must load"))


def test_second_reading_runs_no_second_detection(onnx_ocr, monkeypatch):
    """examples/misspelled_adibas.jpg: its doubtful "Adibas" is re-read from its crop by the recogniser alone."""
    from detector.io import load_image

    reader = onnx_ocr._reader()
    detections, recognitions = [], []
    real_detect, real_recognize = reader.detect, reader.recognize
    monkeypatch.setattr(reader, "detect", lambda *a, **k: detections.append(1) or real_detect(*a, **k))
    monkeypatch.setattr(reader, "recognize", lambda *a, **k: recognitions.append(1) or real_recognize(*a, **k))
    spans = onnx_ocr.read(load_image(REPO_ROOT / "examples" / "misspelled_adibas.jpg").image)
    assert [s.text for s in spans] == ["Adibas"]
    assert len(detections) == 1 and len(recognitions) == 1  # one detection; one crop re-read
    assert spans[0].confidence >= 0.9  # the crop confirms it
