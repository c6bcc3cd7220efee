"""Mutation fuzzing of ``detector.io.load_image``: seed images in every accepted format, and mutations of them.

Shared by the bounded probe in ``tests/unit/test_load_image_fuzz.py`` (hypothesis draws the mutations)
and ``benchmarks/fuzz_load_image.py`` (a seeded ``random.Random`` draws them, for many more inputs).
A mutation is data, ``(kind, where, value)``, so a failing input is reproduced from its printed ops.

The contract checked: ``load_image`` returns an RGB image within the limits or raises the project's
``InvalidImage`` (``ImageTooLarge`` is one); nothing else escapes, no Python warning leaks, and
nothing is written on the process's stderr (libtiff writes there directly unless told not to).
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

#: A mutation: its kind, where in the file (a fraction of the length) and a value it uses.
Op = tuple[str, float, int]

KINDS = ("flip", "set", "insert", "delete", "truncate", "dup", "int16", "int32")
# Values that break parsers: zero, one, signs and widths' edges (AFL's "interesting values").
INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 65536, 100000)


def seeds() -> dict[str, bytes]:
    """Small valid files of every format and mode the loader accepts, plus EXIF and multi-frame ones."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), "RGB")
    out: dict[str, bytes] = {}

    def save(name: str, img: Image.Image, fmt: str, **kw: object) -> None:
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        out[name] = buf.getvalue()

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate
    exif[0x010F] = "maker"
    save("jpeg", rgb, "JPEG", quality=80)
    save("jpeg-exif", rgb, "JPEG", exif=exif.tobytes())
    save("jpeg-progressive", rgb, "JPEG", progressive=True)
    save("jpeg-cmyk", rgb.convert("CMYK"), "JPEG")
    save("png", rgb, "PNG")
    save("png-exif", rgb, "PNG", exif=exif.tobytes())
    save("png-palette-transparent", rgb.convert("P"), "PNG", transparency=0)
    save("png-16bit", Image.fromarray(rng.integers(0, 65535, (24, 32), dtype=np.uint16)), "PNG")
    save("png-la", rgb.convert("LA"), "PNG")
    save("png-1bit", rgb.convert("1"), "PNG")
    frames = [rgb, rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    save("gif-animated", frames[0].convert("P"), "GIF", save_all=True, append_images=[f.convert("P") for f in frames[1:]])
    save("webp-lossy", rgb, "WEBP", quality=70)
    save("webp-lossless", rgb.convert("RGBA"), "WEBP", lossless=True)
    save("bmp", rgb, "BMP")
    save("bmp-palette", rgb.convert("P"), "BMP")
    for comp in ("raw", "tiff_lzw", "tiff_adobe_deflate", "packbits", "jpeg"):
        save(f"tiff-{comp}", rgb, "TIFF", compression=comp)
    save("tiff-group4", rgb.convert("1"), "TIFF", compression="group4")
    save("tiff-float", Image.fromarray(rng.normal(0, 1e3, (24, 32)).astype(np.float32), "F"), "TIFF")
    save("tiff-16bit", Image.fromarray(rng.integers(0, 65535, (24, 32), dtype=np.uint16)), "TIFF")
    save("tiff-exif", rgb, "TIFF", exif=exif.tobytes())
    save("tiff-pages", frames[0], "TIFF", save_all=True, append_images=frames[1:])
    out["png-bomb-header"] = _png_header(60_000, 60_000)
    return out


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


def mutate(data: bytes, ops: Sequence[Op]) -> bytes:
    """``data`` with each mutation applied in turn; every op is valid on any input (empty included)."""
    buf = bytearray(data)
    for kind, where, value in ops:
        n = len(buf)
        at = min(int(where * n), max(n - 1, 0))
        if kind == "truncate":
            del buf[at:]
        elif n == 0:
            buf.append(value & 0xFF)
        elif kind == "flip":
            buf[at] ^= 1 << (value % 8)
        elif kind == "set":
            buf[at] = value & 0xFF
        elif kind == "insert":
            buf[at:at] = bytes([value & 0xFF]) * (1 + value % 16)
        elif kind == "delete":
            del buf[at : at + 1 + value % 64]
        elif kind == "dup":
            buf[at:at] = buf[at : at + 1 + value % 256]
        elif kind in ("int16", "int32"):
            size = 2 if kind == "int16" else 4
            number = INTERESTING[value % len(INTERESTING)] & ((1 << (8 * size)) - 1)
            order = ">" if value % 2 else "<"
            buf[at : at + size] = struct.pack(order + ("H" if size == 2 else "I"), number)
    return bytes(buf)


@dataclass
class Outcome:
    loaded: int = 0
    refused: int = 0
    too_large: int = 0


def check_one(data: bytes, outcome: Outcome, load: Callable[[bytes], object]) -> None:
    """Load ``data``; anything but success or ``InvalidImage`` raises, and so does a leaked warning."""
    from detector.errors import ImageTooLarge, InvalidImage

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loaded = load(data)
        except ImageTooLarge:
            outcome.too_large += 1
        except InvalidImage:
            outcome.refused += 1
        else:
            image = loaded.image  # type: ignore[attr-defined]
            if image.mode != "RGB" or min(image.size) < 1:
                raise AssertionError(f"loaded as {image.mode} {image.size}")
            outcome.loaded += 1
    if caught:
        leaked = "; ".join(f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught)
        raise AssertionError(f"warnings leaked from load_image: {leaked}")
