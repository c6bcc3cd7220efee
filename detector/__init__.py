"""Counterfeit-branding detector for marketplace listing photos.

>>> from detector import Detector
>>> report = Detector().scan_image("examples/misspelled_adibas.jpg")  # doctest: +SKIP
>>> print(report.decision)  # doctest: +SKIP
"""

from detector.config import Config
from detector.errors import (
    CatalogError,
    ConfigError,
    CorruptModel,
    DetectorError,
    ImageTooLarge,
    InvalidImage,
    MissingModel,
    ModelError,
    WorkerError,
)
from detector.io import load_image
from detector.parallel import ScanPool, scan_parallel
from detector.pipeline import Detector
from detector.types import (
    Box,
    BrandSighting,
    Decision,
    Flag,
    ImageReport,
    Listing,
    ListingDecision,
    LogoMatch,
    Relation,
    Severity,
    TextSpan,
)

__version__ = "0.1.0"

__all__ = [
    "Box",
    "BrandSighting",
    "CatalogError",
    "Config",
    "ConfigError",
    "CorruptModel",
    "Decision",
    "Detector",
    "DetectorError",
    "Flag",
    "ImageReport",
    "ImageTooLarge",
    "InvalidImage",
    "Listing",
    "ListingDecision",
    "LogoMatch",
    "MissingModel",
    "ModelError",
    "Relation",
    "ScanPool",
    "Severity",
    "TextSpan",
    "WorkerError",
    "load_image",
    "scan_parallel",
]
