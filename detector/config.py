"""One configuration object: limits, OCR settings, decision thresholds.

Loadable from a YAML file whose sections mirror the dataclasses::

    limits:
      max_pixels: 40000000
    ocr:
      max_side: 1024

Unknown keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.errors import ConfigError
from detector.logos.registry import STAGES


@dataclass(frozen=True)
class Limits:
    """What an input may be before it is refused; all checked before full decoding."""

    # 25 MB: well above any listing photo (phone JPEGs are 2-8 MB) yet cheap to hold in memory.
    max_file_bytes: int = 25 * 1024 * 1024
    # 40 Mpx: a 48 Mpx phone sensor is bigger, but listing photos are resized by every marketplace
    # long before; 40 Mpx of RGB is 120 MB decoded, the most we let one image cost.
    max_pixels: int = 40_000_000
    # Images are downscaled to this longest side right after decoding; the stages cap further.
    max_side: int = 4096


@dataclass(frozen=True)
class OcrConfig:
    """Which OCR backend to use and how hard to look."""

    # "easyocr-onnx" (default): EasyOCR's own CRAFT detector and english_g2 recogniser, exported from the pinned
    # weights to ONNX on first use (cached under $XDG_CACHE_HOME/detector/easyocr-onnx/, a manifest of hashes
    # beside them; re-exported when they no longer match, never downloaded) and run by ONNX Runtime: the same
    # words as "easyocr" with about 40 % less CPU per photo (BENCHMARKS.md, "OCR on ONNX Runtime").
    # Needs onnxruntime and onnx (pinned dependencies). "easyocr": the same nets in torch, as EasyOCR ships
    # them. "none": no OCR.
    backend: str = "easyocr-onnx"
    # Longest side of the image EasyOCR sees. Measured in BENCHMARKS.md ("OCR"): brand words were
    # read as often at 800 as at 1024 (40 %, vs 35 % at 480) while time grows with the pixel count.
    max_side: int = 800
    # Longest side the text detector (CRAFT) sees, at most; the words are then read from the image at
    # max_side. CRAFT is ~95 % of the OCR time and grows with the pixels. Measured on 400 FlickrLogos
    # wordmark photos (BENCHMARKS.md, "Speed"): brand words read 43.8 % at full size, 43.5 % at 480
    # (detection 16 % faster there; 640-px photos save more), 41.5 % at 400, 37.8 % at 320. 0: no cap.
    detect_side: int = 480
    # What finds the text boxes: "craft" (EasyOCR's own detector) or "dbnet" (PaddleOCR's PP-OCRv4 mobile
    # DB detector on ONNX Runtime, from the pinned wheel rapidocr-onnxruntime; see ocr/dbnet.py).
    text_detector: str = "dbnet"
    # Spans below this confidence are dropped as noise before the rules see them.
    min_confidence: float = 0.1
    # Intra-op threads of ONNX Runtime (and of torch); 0 means "all cores of this machine".
    threads: int = 0
    # Spans read below this confidence get a second reading from their own crop (see ocr/easyocr.py), those
    # the rules or logo stage could act on (Detector wires ``reread_if``);
    # 0.7 matches the rules' `ocr.block_min_confidence`, under which a look-alike cannot block on its own.
    reread_below: float = 0.7


# Logo stages, alone or joined with "+" (each reports what clears its own threshold): the names registered
# in detector.logos.registry.STAGES ("keypoints" matches SIFT features of the marks with geometric
# verification; "shape" compares ink silhouettes with the marks, for clear flat prints; "cnn" embeds
# windows with a CNN against a FAISS index; "fused" calibrates the three together). "none" turns logo
# matching off.
LOGO_STAGES = tuple(STAGES)  # as the registry stands at import; validation reads the registry itself


def logo_backend_error(backend: str) -> str | None:
    """Why ``backend`` is not a valid ``logos.backend`` value, or None when it is."""
    parts = backend.split("+")
    if backend == "none" or (all(p in STAGES for p in parts) and len(set(parts)) == len(parts)):
        return None
    return (f"logos.backend must be 'none' or one or more of {', '.join(STAGES)} joined by '+' "
            f"(e.g. 'keypoints+shape'); got {backend!r}")


@dataclass(frozen=True)
class LogosConfig:
    """Whether and how to look for logos (BENCHMARKS.md, "Logo matching, round 2", has the measurements).

    Default ``fused``: keypoints, shape, the trained CNN embedder (models/logo_embedder/) and the OCR's
    text near the box fused into one calibrated probability per brand, its threshold fitted for ≤ 1 % of
    logo-free validation photos naming a brand; on real logo photos (FlickrLogos-27, one flat mark per
    brand) it names the right brand in 57 % against 32 % for ``keypoints+shape``, and in 50 % of plain
    symbols (swoosh, apple, arches, roundels) against 6 %. Text near a logo only ever counts for its
    brand: a swoosh above "PUMA" is reported, for the rules' logo/text mismatch. Its false sightings feed the rules' logo/text
    mismatch checks: for fewer of them (0.6 %) and less recall, use ``keypoints+shape``. The CNN builds an
    index of the catalog on first use (~20 s for the bundled one; ``detector catalog index`` does it ahead
    of time).
    ``keypoints_min_inliers`` and ``shape_threshold`` are the operating points of those stages when
    named on their own; ``embedder`` is the one the ``cnn`` stage uses (``fused`` uses the embedder its
    fitted model names).
    """

    backend: str = "fused"
    # Operating points (the stages' DEFAULT_MIN_INLIERS and DEFAULT_THRESHOLD; BENCHMARKS.md has the
    # trade-off: fewer inliers find more logos and report more brands on logo-free photos).
    keypoints_min_inliers: int = 7
    shape_threshold: float = 0.87
    embedder: str = "mobilenet_v2-imagenet.v1"
    # Find logos in a second thread while the OCR reads (the fused stage proposes from the image, then
    # decides with the OCR's spans). Worth it when the OCR leaves a core idle (``ocr.threads`` below the
    # core count); BENCHMARKS.md, "Speed", has the measurement.
    overlap_ocr: bool = False


@dataclass(frozen=True)
class Thresholds:
    """Risk cut-offs that turn a score into allow | review | block."""

    review: float = 0.4
    block: float = 0.8


@dataclass(frozen=True)
class ServiceConfig:
    """Limits of the HTTP service (``detector serve``); pixels per image come from ``limits.max_pixels``.

    Memory held by request bodies is bounded by ``max_body_buffer_bytes`` (by default
    ``(max_in_flight + max_waiting) * max_request_bytes``), counted per byte as bodies arrive.
    """

    # 8 photos: more than most marketplaces allow per listing in one upload call.
    max_images: int = 8
    # 10 MiB per photo: phone JPEGs are 2-8 MB; never above ``limits.max_file_bytes`` in effect.
    max_image_bytes: int = 10 * 1024 * 1024
    # 32 MiB per request (all parts): 8 typical photos fit; the queue bound times this caps body memory.
    max_request_bytes: int = 32 * 1024 * 1024
    # 64 KiB for the listing JSON part: titles and descriptions are a few KB.
    max_listing_bytes: int = 64 * 1024
    # Seconds from arrival to answer, queue wait included. A full 8-photo listing at the measured ~4 s
    # of OCR per photo on 2 shared cores (BENCHMARKS.md, "Upload hook and service") takes ~33 s;
    # 60 s leaves room for a short queue.
    time_budget_s: float = 60.0
    # Listings analysed at once (threads). EasyOCR serialises its reads and its nets already use every
    # core (ONNX Runtime or torch intra-op threads), so on a small CPU box a second thread only adds memory; raise it on bigger machines.
    max_in_flight: int = 1
    # Listings admitted and waiting for a thread; beyond in-flight + waiting the answer is 503 + Retry-After.
    max_waiting: int = 16
    # Seconds for a request line and its headers, from the connection opening (or the previous answer on a
    # kept-alive one). A client sends them in milliseconds; 10 s cuts one dribbling a byte at a time long
    # before it matters, so 80 such clients cost 80 idle sockets for 10 s, not the service (BENCHMARKS.md,
    # "Hostile input").
    header_timeout_s: float = 10.0
    # Seconds for the whole body once the headers are in, before the listing is admitted to the queue:
    # a full 32 MiB request at ~1.1 MB/s. A body still arriving then gets 408 and holds no queue slot.
    body_timeout_s: float = 30.0
    # Connections open at once, idle and dribbling ones included; beyond it every request gets 503.
    # Connections are cheap (a socket and a few KB each); this caps file descriptors, not work.
    max_connections: int = 512
    # Bytes of request bodies held at once, being read or admitted: the memory bound above, spent per byte
    # received (a client dribbling 300 bytes holds 300 bytes). Default (1 + 16) × 32 MiB = 544 MiB.
    max_body_buffer_bytes: int = 17 * 32 * 1024 * 1024
    # Keep each listing's photos beside the audit log (``<audit db>.blobs/``, once per distinct photo) so
    # ``detector audit export`` can bundle them as evidence; off, the log keeps only their sha256s.
    audit_photos: bool = True


@dataclass(frozen=True)
class LinkConfig:
    """How ``detector link`` and the official-photo check decide that two photos are the same picture.

    A pair is linked when its perceptual hashes are within ``phash_max_distance`` bits (near-exact copies:
    re-encoded, resized, mirrored), or its CNN descriptors' cosine is at least ``cnn_sure``, or the cosine
    is at least ``cnn_candidate`` (or the hashes within ``phash_candidate`` bits) and ``keypoint_min_inliers``
    SIFT matches fit one affine model over ``keypoint_min_spread`` of the frame (crops, borders, overlays).
    The thresholds were chosen on the tuning half of the clothing-copies benchmark (BENCHMARKS.md,
    "Linking"; the other half is the reported result).
    """

    embedder: str = "mobilenet_v2-imagenet.v1"
    # The thresholds: the grid point of `benchmarks/link_eval.py quality --per-class 40 --fit` closest to
    # clearing both bars (precision 0.99, recall 0.95 per edit) on the tune half (400 sources, 3,600 photos),
    # with no two different originals linked.
    # Bits of 64. Copies that keep the whole frame (re-encoded, resized, mirrored, recoloured) stay within 6;
    # the closest different photos (two pairs of jeans on one hanger, in one corner) are 8 apart, 6 once framed.
    phash_max_distance: int = 6
    # A photo under a tiled watermark is far from its original for the CNN (the overlay dominates the
    # descriptor, and its nearest neighbours are other watermarked photos) but not for the hash, which
    # sees the low frequencies: pairs this close go to the keypoint check whatever their cosine.
    phash_candidate: int = 10
    # The closest different photos of the tune half (those two pairs of jeans) reach a cosine of 0.935.
    cnn_sure: float = 0.95
    # Below it, the copies the CNN still finds are found by the hashes too (0.6, 0.7 and 0.8 tied on recall);
    # the highest means the fewest keypoint checks.
    cnn_candidate: float = 0.8
    # Two different photos with the same caption banner share up to ~59 inliers (the banner's letters); copies
    # of one photo mostly share hundreds, spread over the picture.
    keypoint_min_inliers: int = 40
    # Share of the frame the inliers' convex hull must cover (the larger of the two photos' shares): a caption
    # banner shared by two different photos holds its inliers in a strip; a copy spreads them over the picture.
    keypoint_min_spread: float = 0.15
    # Nearest neighbours of each photo (and of its mirror image) considered as candidates.
    neighbours: int = 10
    # Longest side of the photo SIFT sees, and how many keypoints it keeps.
    keypoint_side: int = 512
    keypoint_features: int = 500
    # Photos whose keypoints stay in memory (~130 KB each at 500 keypoints): a new photo's candidates are
    # often older photos, described again when they have left the cache (~58 ms each, a check ~4 ms).
    keypoint_cache: int = 1024
    # Photos described per CNN pass (each with its mirror image). Peak RSS of the linker measured at 1.06 GB
    # with 4 and 1.35 GB with 16 (torch keeps the largest batch's activations); the speed is the same.
    batch: int = 4


@dataclass(frozen=True)
class Config:
    """Everything tunable about a ``Detector``; ``Config()`` is the shipped default."""

    limits: Limits = field(default_factory=Limits)
    ocr: OcrConfig = field(default_factory=OcrConfig)
    logos: LogosConfig = field(default_factory=LogosConfig)
    thresholds: Thresholds = field(default_factory=Thresholds)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    link: LinkConfig = field(default_factory=LinkConfig)

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build a config from nested mappings; unknown or ill-typed keys raise ``ConfigError``."""
        if not isinstance(data, dict):
            raise ConfigError(f"config must be a mapping of sections, got {type(data).__name__}")
        sections: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            section_cls = f.default_factory  # type: ignore[misc]
            raw = data.get(f.name, {})
            if not isinstance(raw, dict):
                raise ConfigError(f"config section '{f.name}' must be a mapping, got {raw!r}")
            sections[f.name] = _build_section(f.name, section_cls, raw)
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(
                f"unknown config section(s) {sorted(unknown)}; expected {[f.name for f in dataclasses.fields(cls)]}"
            )
        return cls(**sections)

    @classmethod
    def from_file(cls, path: str | Path) -> Config:
        """Load a YAML config file (JSON is valid YAML too)."""
        import yaml

        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {p} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {p} is not valid YAML: {exc}") from exc
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{p}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build_section(name: str, section_cls: Any, raw: dict[str, Any]) -> Any:
    known = {f.name: f for f in dataclasses.fields(section_cls)}
    unknown = set(raw) - set(known)
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in config section '{name}'; expected {sorted(known)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        expected = type(getattr(section_cls(), key))
        # YAML gives ints for "1" where a float is meant; accept that one widening, nothing else.
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise ConfigError(f"config key '{name}.{key}' must be {expected.__name__}, got {value!r}")
        values[key] = value
    return section_cls(**values)


def _validate(cfg: Config) -> None:
    lim, ocr, th = cfg.limits, cfg.ocr, cfg.thresholds
    for key in ("max_file_bytes", "max_pixels", "max_side"):
        if getattr(lim, key) <= 0:
            raise ConfigError(f"limits.{key} must be positive, got {getattr(lim, key)}")
    if ocr.max_side < 64:
        raise ConfigError(f"ocr.max_side must be at least 64 pixels, got {ocr.max_side}")
    if ocr.detect_side != 0 and ocr.detect_side < 64:
        raise ConfigError(f"ocr.detect_side must be 0 (no cap) or at least 64 pixels, got {ocr.detect_side}")
    if ocr.text_detector not in ("dbnet", "craft"):
        raise ConfigError(f"ocr.text_detector must be 'dbnet' or 'craft', got {ocr.text_detector!r}")
    if not 0.0 <= ocr.min_confidence <= 1.0:
        raise ConfigError(f"ocr.min_confidence must be in [0, 1], got {ocr.min_confidence}")
    if not 0.0 <= ocr.reread_below <= 1.0:
        raise ConfigError(f"ocr.reread_below must be in [0, 1] (0 turns second readings off), got {ocr.reread_below}")
    if ocr.threads < 0:
        raise ConfigError(f"ocr.threads must be 0 (all cores) or positive, got {ocr.threads}")
    if (why := logo_backend_error(cfg.logos.backend)) is not None:
        raise ConfigError(why)
    if cfg.logos.keypoints_min_inliers < 3:
        raise ConfigError(f"logos.keypoints_min_inliers must be at least 3, got {cfg.logos.keypoints_min_inliers}")
    if not 0.0 <= cfg.logos.shape_threshold <= 1.0:
        raise ConfigError(f"logos.shape_threshold must be in [0, 1], got {cfg.logos.shape_threshold}")
    if not 0.0 <= th.review <= th.block <= 1.0:
        raise ConfigError(
            f"thresholds must satisfy 0 <= review <= block <= 1, got review={th.review}, block={th.block}"
        )
    _validate_link(cfg.link)
    svc = cfg.service
    for key in ("max_images", "max_image_bytes", "max_request_bytes", "max_listing_bytes", "max_in_flight",
                "max_connections", "max_body_buffer_bytes"):
        if getattr(svc, key) <= 0:
            raise ConfigError(f"service.{key} must be positive, got {getattr(svc, key)}")
    if svc.max_waiting < 0:
        raise ConfigError(f"service.max_waiting must be 0 (no queue) or positive, got {svc.max_waiting}")
    for key in ("time_budget_s", "header_timeout_s", "body_timeout_s"):
        value = getattr(svc, key)
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"service.{key} must be a positive number of seconds, got {value}")


def _validate_link(link: LinkConfig) -> None:
    if not 0 <= link.phash_max_distance <= 64:
        raise ConfigError(f"link.phash_max_distance must be 0..64 bits, got {link.phash_max_distance}")
    if not 0 <= link.phash_candidate <= 64:
        raise ConfigError(f"link.phash_candidate must be 0..64 bits, got {link.phash_candidate}")
    if not -1.0 <= link.cnn_candidate <= link.cnn_sure <= 1.0:
        raise ConfigError(f"link thresholds must satisfy -1 <= cnn_candidate <= cnn_sure <= 1, got "
                          f"cnn_candidate={link.cnn_candidate}, cnn_sure={link.cnn_sure}")
    if not 0.0 <= link.keypoint_min_spread <= 1.0:
        raise ConfigError(f"link.keypoint_min_spread must be between 0 and 1, got {link.keypoint_min_spread}")
    if link.keypoint_min_inliers < 3:
        raise ConfigError(f"link.keypoint_min_inliers must be at least 3 (an affine model needs 3 points), "
                          f"got {link.keypoint_min_inliers}")
    for key in ("neighbours", "keypoint_side", "keypoint_features", "keypoint_cache", "batch"):
        if getattr(link, key) <= 0:
            raise ConfigError(f"link.{key} must be positive, got {getattr(link, key)}")
