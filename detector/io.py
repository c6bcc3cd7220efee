"""Safe image input: load any image a marketplace receives, and walk folders of them.

Every limit is checked before the pixels are decoded, so a decompression bomb
costs a header read, not gigabytes. Every failure is an ``InvalidImage`` (or
its child ``ImageTooLarge``) whose message names the file and the problem.

>>> from detector.io import load_image
>>> loaded = load_image("examples/genuine_nike.jpg")  # doctest: +SKIP
>>> loaded.image.mode
'RGB'
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io as _io
import os
import re
import stat
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Union

from detector.config import Limits
from detector.errors import ImageTooLarge, InvalidImage

if TYPE_CHECKING:
    from PIL import Image

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, "Image.Image"]

#: Extensions that claim to be an image; a claimed image that cannot be read is an error, not a skip.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff"}
)

#: PIL format names we decode. MPO is how PIL names many phone JPEGs (multi-picture).
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "DIB", "TIFF"})

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"BM", 0, "BMP"),
    (b"II*\x00", 0, "TIFF"),  # little-endian
    (b"MM\x00*", 0, "TIFF"),  # big-endian
    (b"WEBP", 8, "WebP"),  # RIFF....WEBP
)
# Pillow's own words for "the decoder gave up", which name no cause a user can act on.
_OPAQUE_DECODER_ERRORS = re.compile(r"decoder error -?\d+|cannot load this image|decoding error")
_PILLOW_BOMB_SIZE = re.compile(r"Image size \((\d+) pixels\)")


@dataclass(frozen=True)
class LoadedImage:
    """An RGB image ready for the stages, with where it came from."""

    image: Image.Image
    source: str
    sha256: str | None
    format: str | None
    #: (width, height) of the file as stored, after EXIF orientation.
    original_size: tuple[int, int]

    @property
    def scale(self) -> float:
        """Factor from working-image pixels back to original-image pixels (1.0 when not downscaled)."""
        return self.original_size[0] / self.image.width if self.image.width else 1.0


def sniff_image(head: bytes) -> bool:
    """Whether the leading bytes of a file look like an image format we decode."""
    return sniff_format(head) is not None


def sniff_format(head: bytes) -> str | None:
    """The format the leading bytes of a file announce ("JPEG", "PNG", …), or None."""
    return next((fmt for magic, offset, fmt in _MAGIC if head[offset : offset + len(magic)] == magic), None)


def load_image(source: ImageSource, limits: Limits | None = None, *, name: str | None = None) -> LoadedImage:
    """Load ``source`` (path, bytes or PIL image) as RGB, enforcing ``limits``.

    Raises ``ImageTooLarge`` when the file or its pixel count is over a limit and
    ``InvalidImage`` for anything that cannot be decoded.
    """
    limits = limits or Limits()
    from PIL import Image

    if isinstance(source, Image.Image):
        label = name or "<PIL image>"
        _check_pixels(label, source.width, source.height, limits)
        with _quiet():
            return _finish(source, label, None, None, limits)

    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or "<bytes>"
        if len(data) > limits.max_file_bytes:
            raise ImageTooLarge(_too_many_bytes(label, len(data), limits))
    elif isinstance(source, (str, os.PathLike)):
        label = name or str(source)
        data = _read_bounded(Path(source), label, limits)
    else:
        raise InvalidImage(f"cannot load an image from a {type(source).__name__}; pass a path, bytes or a PIL image")

    if not data:
        raise InvalidImage(f"{label}: file is empty (0 bytes)")
    digest = hashlib.sha256(data).hexdigest()
    _silence_decoders()
    with _quiet():
        return _decode(data, label, digest, limits)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No warnings while an image loads.

    Hostile headers make Pillow (EXIF, TIFF tags, its bomb warning) and numpy (odd float pixels) warn;
    the file either still loads or fails with a per-file error, so a warning is only noise on the
    user's stderr. Pillow names the caller as the source of many, so no module filter catches them all.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _read_bounded(path: Path, label: str, limits: Limits) -> bytes:
    try:
        with open_regular(path, label) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limits.max_file_bytes:
                raise ImageTooLarge(_too_many_bytes(label, size, limits))
            # Read one byte past the limit: a file that grew since fstat() is caught too.
            data = fh.read(limits.max_file_bytes + 1)
    except FileNotFoundError as exc:
        raise InvalidImage(f"{label}: no such file") from exc
    except OSError as exc:
        raise InvalidImage(f"{label}: cannot read file: {exc.strerror or exc}") from exc
    if len(data) > limits.max_file_bytes:
        raise ImageTooLarge(_too_many_bytes(label, len(data), limits))
    return data


def open_regular(path: str | os.PathLike[str], label: str | None = None) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file; anything else raises ``InvalidImage``.

    A FIFO blocks ``open()`` until a writer appears and a device can stream forever, so neither is
    opened: ``stat`` says what the path is first, and ``fstat`` on a non-blocking descriptor checks
    again (the path may have been swapped in between) before a byte is read.
    """
    label = label or str(path)
    _refuse_special(os.stat(path).st_mode, label)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        _refuse_special(os.fstat(fd).st_mode, label)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _refuse_special(mode: int, label: str) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise InvalidImage(f"{label}: is a directory, not an image file")
    raise InvalidImage(f"{label}: is a {_file_kind(mode)}, not a regular file; only regular files are read")


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
             (stat.S_ISBLK, "block device"))
    return next((name for test, name in kinds if test(mode)), "special file")


def _decode(data: bytes, label: str, digest: str, limits: Limits) -> LoadedImage:
    from PIL import Image, UnidentifiedImageError

    try:
        # PIL's own bomb check (its warning is silenced by the caller) errors at twice its cap; ours
        # (below) is stricter and runs on the header alone, so PIL's error is mapped to ours.
        img = Image.open(_io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(_pillow_bomb(label, exc, limits)) from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage(_unidentified(label, data)) from exc
    except Exception as exc:  # PIL plugins raise many types on hostile headers
        raise InvalidImage(f"{label}: cannot parse image header: {exc}") from exc

    if img.format not in SUPPORTED_FORMATS:
        raise InvalidImage(
            f"{label}: image format {img.format} is not supported; use JPEG, PNG, WebP, GIF, BMP or TIFF"
        )
    _check_pixels(label, img.width, img.height, limits)
    try:
        img.seek(0)  # first frame of animated GIF / WebP / multi-page TIFF
        img.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(_pillow_bomb(label, exc, limits)) from exc
    except Exception as exc:  # truncated or corrupt data: OSError, SyntaxError, ValueError...
        raise InvalidImage(f"{label}: {_pixel_failure(img.format, exc)}") from exc
    return _finish(img, label, digest, img.format, limits)


def _pillow_bomb(label: str, exc: Exception, limits: Limits) -> str:
    """Our message for Pillow's own bomb error: our limit only (Pillow's cap would read as a second one)."""
    found = _PILLOW_BOMB_SIZE.search(str(exc))
    size = f"claims {int(found.group(1)):,} pixels" if found else "claims far more pixels than the limit"
    return (
        f"{label}: the image header {size}; the limit is {limits.max_pixels:,} pixels: "
        "resize it or raise `limits.max_pixels`"
    )


def _unidentified(label: str, data: bytes) -> str:
    announced = sniff_format(data[:16])
    if announced is not None:
        return f"{label}: starts like a {announced} file but its header cannot be read: the file is truncated or corrupt"
    hint = " (the file looks like text)" if _looks_like_text(data) else ""
    return f"{label}: not a recognised image format{hint}"


def _pixel_failure(fmt: str | None, exc: Exception) -> str:
    """Why the pixels could not be decoded, in words a user can act on."""
    what = f"the {fmt} pixel data" if fmt else "the pixel data"
    text = str(exc)
    if "truncated" in text.lower():
        return "file is truncated or corrupt: " + f"{what} ends early"
    if _OPAQUE_DECODER_ERRORS.search(text):
        return f"{what} is corrupt or missing: the header was read but the pixels cannot be decoded"
    return f"{what} is corrupt: {text}"


def _finish(img: Image.Image, label: str, digest: str | None, fmt: str | None, limits: Limits) -> LoadedImage:
    from PIL import ImageOps

    try:
        img = ImageOps.exif_transpose(img) or img
    except Exception:  # noqa: BLE001, S110 - a broken EXIF block must not lose an otherwise good image
        pass
    try:
        rgb = to_rgb(img)
    except Exception as exc:
        raise InvalidImage(f"{label}: cannot convert mode {img.mode} to RGB: {exc}") from exc
    original = (rgb.width, rgb.height)
    if max(original) > limits.max_side:
        rgb = rgb.copy()
        rgb.thumbnail((limits.max_side, limits.max_side))
    return LoadedImage(image=rgb, source=label, sha256=digest, format=fmt, original_size=original)


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB; transparency is composited onto white."""
    import numpy as np
    from PIL import Image

    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # A plain convert() clips 16-bit values to 255; rescale to the full range instead.
        arr = np.array(img, dtype=np.float64)
        # Float TIFFs can hold NaN/inf; left in, they make min/max (and so every pixel) garbage.
        arr[~np.isfinite(arr)] = 0.0
        lo, hi = (0.0, 65535.0) if mode.startswith("I;16") else (float(arr.min()), float(arr.max()))
        # A span near the float64 maximum overflows to inf and makes NaN: those pixels become 0.
        with np.errstate(all="ignore"):
            scaled = np.nan_to_num(np.clip((arr - lo) / max(hi - lo, 1e-9) * 255.0, 0, 255))
        scaled = scaled.astype(np.uint8)
        return Image.fromarray(scaled, mode="L").convert("RGB")
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    elif mode == "P":
        return img.convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or img.mode == "RGBA":
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def _check_pixels(label: str, width: int, height: int, limits: Limits) -> None:
    if width <= 0 or height <= 0:
        raise InvalidImage(f"{label}: image has no pixels ({width}×{height})")
    pixels = width * height
    if pixels > limits.max_pixels:
        count, limit = _apart(pixels, limits.max_pixels, _mpx, "pixels")
        raise ImageTooLarge(
            f"{label}: image is {width}×{height} pixels ({count}); the limit is {limit}: "
            "resize it or raise `limits.max_pixels`"
        )


def _too_many_bytes(label: str, size: int, limits: Limits) -> str:
    size_text, limit_text = _apart(size, limits.max_file_bytes, _mb, "bytes")
    return f"{label}: file is {size_text}; the limit is {limit_text}: resize it or raise `limits.max_file_bytes`"


def _apart(value: int, limit: int, rounded: Callable[[int], str], unit: str) -> tuple[str, str]:
    """``value`` and ``limit`` as text that differs: rounding must not make an over-limit value read as the
    limit ("26.2 MB; the limit is 26.2 MB"), so then both are exact."""
    a, b = rounded(value), rounded(limit)
    return (a, b) if a != b else (f"{value:,} {unit}", f"{limit:,} {unit} ({b})")


# Below 1 Mpx / 0.1 MB a rounded figure would read "0 Mpx" / "0.0 MB"; say the exact count instead.
def _mpx(pixels: int) -> str:
    return f"{pixels / 1e6:.0f} Mpx" if pixels >= 1_000_000 else f"{pixels:,} pixels"


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size:,} bytes"


def _looks_like_text(data: bytes) -> bool:
    """UTF-8 without control characters; binary headers (GIF, BMP, TIFF) are often valid UTF-8 too."""
    head = data[:512]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(ord(c) < 32 and c not in "\t\n\r\f\v" for c in text)


@functools.cache
def _silence_decoders() -> None:
    """Stop the decoders printing on the process's stderr (once per process, on the first load).

    Pillow's TIFF plugin logs an ERROR before it raises ("More samples per pixel than can be decoded"),
    and Pillow's bundled libtiff writes its warnings and errors there itself, behind Python's back
    ("ZIPDecode: Decoding error at scanline 0"). Each failure already becomes our per-file error. A level
    the user set on the "PIL" logger is kept; libtiff is silenced where it can be found (Linux).
    """
    import ctypes
    import logging

    from PIL import Image  # noqa: F401 - loads Pillow's C core, and with it its libtiff

    pil_log = logging.getLogger("PIL")
    if pil_log.level == logging.NOTSET:
        pil_log.setLevel(logging.CRITICAL)

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            paths = {line.split()[-1] for line in fh if "libtiff" in line and "/" in line}
    except OSError:
        return
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
            for setter in (lib.TIFFSetWarningHandler, lib.TIFFSetErrorHandler):
                setter.restype = ctypes.c_void_p
                setter.argtypes = [ctypes.c_void_p]
                setter(None)
        except (OSError, AttributeError):
            continue


@dataclass
class FolderWalk:
    """Image files under some paths, recursively, sorted, each real directory visited once.

    Iterate it for the files to scan; afterwards ``skipped`` holds the files that are
    neither named nor shaped like an image (``.txt``, ``.DS_Store``) and everything in a
    folder that is not a regular file (FIFOs, sockets, devices: never opened). A file is
    scanned when its extension or its leading bytes say it is an image.
    """

    paths: Iterable[str | os.PathLike]
    skipped: list[Path] = field(default_factory=list)

    def __iter__(self) -> Iterator[Path]:
        seen_dirs: set[str] = set()
        for root in self.paths:
            p = Path(root)
            if p.is_dir():
                yield from self._walk_dir(p, seen_dirs)
            else:
                # Named explicitly: the user wants it scanned, so a bad file is an error record.
                yield p

    def _walk_dir(self, top: Path, seen_dirs: set[str]) -> Iterator[Path]:
        real = os.path.realpath(top)
        if real in seen_dirs:
            return  # a symlink loop, or the same folder reached twice
        seen_dirs.add(real)
        try:
            entries = sorted(os.scandir(top), key=lambda e: e.name)
        except OSError:
            self.skipped.append(top)
            return
        subdirs: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                subdirs.append(path)
            elif is_image_file(path):
                yield path
            else:
                self.skipped.append(path)
        for sub in subdirs:
            yield from self._walk_dir(sub, seen_dirs)


def is_image_file(path: Path) -> bool:
    """True when ``path`` claims to be an image by its extension or its leading bytes; never for a
    FIFO, socket or device (those are not opened)."""
    try:
        mode: int | None = path.stat().st_mode
    except OSError:
        mode = None  # missing, or a broken link: only its name can claim it (loading it then says why not)
    if mode is not None and not stat.S_ISREG(mode):
        return False
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return True
    if mode is None:
        return False
    try:
        with open_regular(path) as fh:
            return sniff_image(fh.read(16))
    except (OSError, InvalidImage):
        return False

