"""``ocr.detect_side``: CRAFT sees a smaller copy, the boxes are scaled back and read from the full image."""

from __future__ import annotations

import numpy as np

from detector.ocr.easyocr import read_photo


class FakeReader:
    """Records the image size ``detect`` saw; returns one box in that image's pixels."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def detect(self, img, reformat=False):  # type: ignore[no-untyped-def]
        h, w = img.shape[:2]
        self.seen.append((w, h))
        return [[[w // 4, w // 2, h // 4, h // 2]]], [[]]  # x_min, x_max, y_min, y_max


def test_detection_runs_on_the_capped_copy_and_boxes_come_back_in_full_size(monkeypatch) -> None:
    import detector.ocr.easyocr as mod

    got: list = []
    monkeypatch.setattr(mod, "recognise_boxes", lambda reader, grey, h, f, batch: got.append((grey.shape, h)) or [])
    reader = FakeReader()
    rgb = np.zeros((600, 960, 3), np.uint8)
    read_photo(reader, rgb, detect_side=480)
    assert reader.seen == [(480, 300)]
    (shape, boxes), = got
    assert shape == (600, 960)  # recognition reads the full image
    assert boxes == [[240, 480, 150, 300]]  # the detector's box, scaled back by 2
    read_photo(reader, rgb, detect_side=0)
    assert reader.seen[-1] == (960, 600) and got[-1][1] == [[240, 480, 150, 300]]
    read_photo(reader, np.zeros((300, 400, 3), np.uint8), detect_side=480)  # already small: untouched
    assert reader.seen[-1] == (400, 300)
