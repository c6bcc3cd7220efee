"""PP-OCRv4's DB text detector (``ocr.text_detector: dbnet``): the weights check and the box post-processing."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from detector.config import Config, OcrConfig
from detector.errors import ConfigError, CorruptModel, MissingModel
from detector.ocr import dbnet
from detector.ocr.easyocr import EasyOcr


def test_probability_blobs_become_easyocr_boxes_in_image_coordinates():
    prob = np.zeros((120, 160), np.float32)
    prob[20:30, 20:100] = 0.9   # a word line, 80 x 10 on the map
    prob[80:84, 10:13] = 0.9    # a speck: a quad of its own, under EasyOCR's size floor once grouped
    prob[60:70, 120:150] = 0.2  # under THRESH: not text
    quads = dbnet.boxes_from_map(prob, 320, 240)  # the image is twice the map
    assert len(quads) == 2
    line = max(quads, key=lambda q: np.ptp(q[:, 0]))
    # Grown back by DB's unclip rule, then scaled x2: the line covers its kernel and a little more.
    assert line[:, 0].min() < 40 and line[:, 0].max() > 198 and line[:, 1].min() < 40 and line[:, 1].max() > 58
    (horizontal,), (free,) = dbnet.group_like_easyocr(quads)
    assert free == []
    assert len(horizontal) == 1  # the speck is under EasyOCR's 20-px size floor
    x_min, x_max, y_min, y_max = horizontal[0]
    assert x_min < 40 and x_max > 198 and y_min < 40 and y_max > 58


def test_slanted_text_is_a_free_quad():
    import cv2

    prob = np.zeros((200, 200), np.float32)
    cv2.fillPoly(prob, [np.array([[20, 60], [170, 140], [165, 152], [15, 72]], np.int32)], 1.0)
    (horizontal,), (free,) = dbnet.group_like_easyocr(dbnet.boxes_from_map(prob, 200, 200))
    assert horizontal == [] and len(free) == 1 and len(free[0]) == 4


def test_an_empty_map_gives_no_boxes():
    assert dbnet.group_like_easyocr(dbnet.boxes_from_map(np.zeros((64, 64), np.float32), 64, 64)) == ([[]], [[]])


def test_missing_weights_say_what_to_install(monkeypatch):
    monkeypatch.setattr(dbnet.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingModel, match=r"pip install --no-deps rapidocr-onnxruntime==1\.4\.4"):
        dbnet.model_path()


def test_weights_with_another_hash_are_refused(monkeypatch, tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / dbnet.MODEL_FILE).write_bytes(b"not the model")

    spec = SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(dbnet.importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(CorruptModel, match="expected d2a7720d"):
        dbnet.model_path()


def test_text_detector_is_validated():
    assert OcrConfig().text_detector == "dbnet"
    with pytest.raises(ConfigError, match="ocr.text_detector must be 'dbnet' or 'craft'"):
        Config.from_dict({"ocr": {"text_detector": "east"}})
    with pytest.raises(ConfigError, match="unknown text detector"):
        EasyOcr(text_detector="east")
