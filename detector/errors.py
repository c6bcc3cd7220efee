"""One error hierarchy for everything the detector raises on purpose.

Every message says what was expected, what came, and what to do about it.
"""

from __future__ import annotations


class DetectorError(Exception):
    """Base class of every error the detector raises on purpose."""


class ConfigError(DetectorError):
    """A configuration file or value is invalid."""


class InvalidImage(DetectorError):
    """An input cannot be used as an image (unreadable, truncated, not an image)."""


class ImageTooLarge(InvalidImage):
    """An input breaks a size limit (file bytes or pixels); checked before full decoding."""


class ModelError(DetectorError):
    """A model cannot be loaded."""


class MissingModel(ModelError):
    """Model weights (or the package that ships them) are not installed."""


class CorruptModel(ModelError):
    """Model weights are present but their hash does not match the pinned one."""


class CatalogError(DetectorError):
    """A brand catalog is invalid or inconsistent with its index."""


class WorkerError(DetectorError):
    """A worker process of a parallel scan died while loading its models, or too many died during a scan."""


class LabelsError(DetectorError):
    """A labels file for ``detector eval`` is invalid (a missing column, a bad label, a missing photo)."""
