"""OCR stage: the ``OcrBackend`` protocol and its adapters.

``create_ocr(config)`` builds the configured backend; heavy imports happen
inside the adapter, on first use.
"""

from __future__ import annotations

from detector.config import OcrConfig
from detector.errors import ConfigError
from detector.stages import NoOcr, OcrBackend

__all__ = ["BACKENDS", "OcrBackend", "create_ocr"]

# "easyocr-onnx": EasyOCR's own nets exported to ONNX and run by ONNX Runtime (detector/ocr/onnx_models.py);
# "easyocr": the same nets in torch, as EasyOCR ships them; "none": no OCR.
BACKENDS = ("easyocr-onnx", "easyocr", "none")


def create_ocr(config: OcrConfig | None = None) -> OcrBackend:
    """The OCR backend named by ``config.backend`` (see ``BACKENDS``; ``none`` skips OCR)."""
    config = config or OcrConfig()
    options = {
        "max_side": config.max_side,
        "min_confidence": config.min_confidence,
        "threads": config.threads,
        "reread_below": config.reread_below,
        "detect_side": config.detect_side,
        "text_detector": config.text_detector,
    }
    if config.backend == "easyocr":
        from detector.ocr.easyocr import EasyOcr

        return EasyOcr(**options)
    if config.backend == "easyocr-onnx":
        from detector.ocr.onnx_models import EasyOcrOnnx

        return EasyOcrOnnx(**options)
    if config.backend == "none":
        return NoOcr()
    raise ConfigError(f"unknown OCR backend {config.backend!r}; expected one of {', '.join(BACKENDS)}")
