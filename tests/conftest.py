"""Shared fixtures: a fake OCR (and fake logo/rules stages), a test-image factory, the shared data folder.

Only PIL and numpy are imported here at module level; ``detector`` modules are
imported inside the helpers so collecting the fast tests never pulls in torch.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


# --------------------------------------------------------------------------- fake stages


@dataclasses.dataclass(frozen=True)
class B:
    """Stand-in for ``detector.catalog.Brand``: the rules read only these three fields."""

    name: str
    aliases: tuple[str, ...] = ()
    authorized_sellers: tuple[str, ...] = ()


class FakeOcr:
    """An ``OcrBackend`` that reads what the test tells it to.

    ``spans`` are returned for every image (nothing by default); ``per_call(n, image)``,
    when given, decides instead (``n`` counts from 1); ``raise_on={n: exc}`` raises ``exc``
    on the n-th image. ``sizes`` records the size of every image it was handed.
    """

    name = "fake-ocr"

    def __init__(
        self,
        spans: Sequence[Any] = (),
        *,
        per_call: Callable[[int, Image.Image], Sequence[Any]] | None = None,
        raise_on: dict[int, BaseException] | None = None,
    ) -> None:
        self.spans = list(spans)
        self.per_call = per_call
        self.raise_on = dict(raise_on or {})
        self.sizes: list[tuple[int, int]] = []

    @property
    def calls(self) -> int:
        return len(self.sizes)

    def load(self) -> None:
        pass

    def read(self, image: Image.Image) -> list[Any]:
        self.sizes.append(image.size)
        n = len(self.sizes)
        if n in self.raise_on:
            raise self.raise_on[n]
        if self.per_call is not None:
            return list(self.per_call(n, image))
        return list(self.spans)


class FakeLogos:
    """A ``LogoStage`` returning fixed matches (in working-image coordinates)."""

    name = "fake-logos"

    def __init__(self, matches: Sequence[Any] = ()) -> None:
        self.matches = list(matches)

    def load(self) -> None:
        pass

    def find(self, image: Image.Image) -> list[Any]:
        return list(self.matches)


class FakeRules:
    """A ``RulesStage`` that blocks any text in ``flag_words`` (case-insensitive) and allows the rest."""

    name = "fake-rules"

    def __init__(self, flag_words: Sequence[str] = ("REPLICA",)) -> None:
        self.flag_words = {w.upper() for w in flag_words}

    def load(self) -> None:
        pass

    def evaluate(self, texts: Sequence[Any], logos: Sequence[Any], listing: Any = None, *, listing_text: bool = False) -> Any:
        from detector.types import BrandSighting, Decision, Flag, Relation, Severity, Verdict

        hits = [t for t in texts if t.text.upper() in self.flag_words]
        if not hits:
            return Verdict(texts=tuple(texts))
        marked = tuple(
            dataclasses.replace(t, brand="FakeBrand", relation=Relation.LOOKALIKE, similarity=0.9) if t in hits else t
            for t in texts
        )
        flags = tuple(
            Flag(rule="fake_rule", severity=Severity.BLOCK, brand="FakeBrand", message=f"saw {t.text!r}") for t in hits
        )
        brands = (BrandSighting("FakeBrand", 0.6, ("text",)), BrandSighting("OtherBrand", 0.9, ("logo",)))
        return Verdict(texts=marked, flags=flags, brands=brands, risk=0.9, decision=Decision.BLOCK)


class StageSwap:
    """The stages every ``Detector`` built while the ``fake_stages`` fixture is active gets."""

    def __init__(self) -> None:
        self.ocr = FakeOcr()
        self.logos = FakeLogos()
        self.rules = FakeRules()
        self.built = 0


@pytest.fixture
def fake_ocr() -> FakeOcr:
    return FakeOcr()


@pytest.fixture
def fake_stages(monkeypatch: pytest.MonkeyPatch) -> StageSwap:
    """Make every ``Detector`` the CLI builds use fake stages (no model is ever loaded).

    ``detector.cli`` imports ``Detector`` from ``detector.pipeline`` when a command
    runs, so replacing it there reaches the CLI; ``create_ocr`` is replaced too, so
    a code path that builds the OCR on its own still gets the fake. Tests swap
    ``swap.ocr`` / ``swap.rules`` before calling ``main``.
    """
    import detector.ocr
    import detector.pipeline

    swap = StageSwap()
    real = detector.pipeline.Detector

    class InjectedDetector(real):  # type: ignore[misc, valid-type]
        def __init__(self, **kwargs: Any) -> None:
            kwargs.update(ocr=swap.ocr, logos=swap.logos, rules=swap.rules)
            swap.built += 1
            super().__init__(**kwargs)

    monkeypatch.setattr(detector.pipeline, "Detector", InjectedDetector)
    monkeypatch.setattr(detector.ocr, "create_ocr", lambda *a, **k: swap.ocr)
    return swap


# --------------------------------------------------------------------------- images


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk with a correct CRC, so PIL parses the header rather than rejecting it."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


class ImageFactory:
    """Small images and hostile files, generated in memory (nothing is read from disk)."""

    # ----- plain images
    def rgb(self, size: tuple[int, int] = (32, 24), color: tuple[int, int, int] = RED) -> Image.Image:
        return Image.new("RGB", size, color)

    def noise(self, size: tuple[int, int] = (64, 48), seed: int = 0) -> Image.Image:
        rng = np.random.default_rng(seed)
        return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))

    def halves(self, size: tuple[int, int] = (40, 20), left=RED, right=BLUE) -> Image.Image:  # type: ignore[no-untyped-def]
        """Left half ``left``, right half ``right``: shows where pixels went after a rotation."""
        img = Image.new("RGB", size, left)
        img.paste(right, (size[0] // 2, 0, size[0], size[1]))
        return img

    def encode(self, img: Image.Image, fmt: str, **kwargs: Any) -> bytes:
        buf = io.BytesIO()
        img.save(buf, fmt, **kwargs)
        return buf.getvalue()

    def jpeg(self, size: tuple[int, int] = (32, 24), color: tuple[int, int, int] = RED, **kwargs: Any) -> bytes:
        return self.encode(self.rgb(size, color), "JPEG", quality=95, **kwargs)

    def png(self, size: tuple[int, int] = (32, 24), color: tuple[int, int, int] = RED) -> bytes:
        return self.encode(self.rgb(size, color), "PNG")

    def write(self, path: Path, data: bytes | Image.Image, fmt: str | None = None, **kwargs: Any) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, Image.Image):
            data = self.encode(data, fmt or "PNG", **kwargs)
        path.write_bytes(data)
        return path

    # ----- odd but valid
    def cmyk_jpeg(self) -> bytes:
        return self.encode(Image.new("CMYK", (20, 10), (0, 255, 255, 0)), "JPEG", quality=95)  # red ink

    def png16(self) -> bytes:
        """16-bit greyscale rows of 0, 32768 and 65535: clipping would make the middle row white."""
        rows = np.array([[0] * 6, [32768] * 6, [65535] * 6], dtype=np.uint16)
        return self.encode(Image.fromarray(rows), "PNG")

    def palette_png_transparent(self) -> bytes:
        """Palette PNG: index 0 (red in the palette) transparent everywhere except an opaque green (0, 0)."""
        img = Image.new("P", (8, 8), 0)
        img.putpalette([*RED, *GREEN] + [0] * (256 * 3 - 6))
        img.putpixel((0, 0), 1)
        return self.encode(img, "PNG", transparency=0)

    def rgba_png(self) -> bytes:
        """Transparent red, opaque blue and half-transparent black pixels."""
        img = Image.new("RGBA", (3, 1))
        img.putpixel((0, 0), (255, 0, 0, 0))
        img.putpixel((1, 0), (0, 0, 255, 255))
        img.putpixel((2, 0), (0, 0, 0, 128))
        return self.encode(img, "PNG")

    def la_png(self) -> bytes:
        img = Image.new("LA", (2, 1))
        img.putpixel((0, 0), (0, 0))  # black but transparent
        img.putpixel((1, 0), (0, 255))  # black and opaque
        return self.encode(img, "PNG")

    def one_bit_png(self) -> bytes:
        img = Image.new("1", (2, 1), 0)
        img.putpixel((1, 0), 1)
        return self.encode(img, "PNG")

    def grey_jpeg(self) -> bytes:
        return self.encode(Image.new("L", (8, 8), 128), "JPEG", quality=95)

    def exif_rotated_jpeg(self, orientation: int = 6) -> bytes:
        """A 40×20 red|blue JPEG whose EXIF says "rotate 90° clockwise to display" (orientation 6)."""
        exif = Image.Exif()
        exif[0x0112] = orientation
        return self.encode(self.halves((40, 20)), "JPEG", quality=95, exif=exif.tobytes())

    def animated_gif(self) -> bytes:
        frames = [self.rgb((10, 10), RED), self.rgb((10, 10), BLUE)]
        return self.encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)

    def multipage_tiff(self) -> bytes:
        pages = [self.rgb((10, 10), RED), self.rgb((12, 12), BLUE)]
        return self.encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])

    def webp(self) -> bytes:
        return self.encode(self.rgb((10, 10), RED), "WEBP", quality=95)

    def bmp(self) -> bytes:
        return self.encode(self.rgb((10, 10), RED), "BMP")

    # ----- hostile
    def truncated_jpeg(self) -> bytes:
        data = self.encode(self.noise((64, 64)), "JPEG", quality=90)
        return data[: len(data) // 2]

    def png_header(self, width: int, height: int) -> bytes:
        """A PNG whose IHDR claims ``width``×``height`` RGB pixels but holds no pixel data at all."""
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b""))
            + png_chunk(b"IEND", b"")
        )

    def text(self) -> bytes:
        return b"This is a shopping list, not a photo.\nmilk\neggs\n"

    def random_bytes(self, n: int = 600, seed: int = 0) -> bytes:
        return np.random.default_rng(seed).bytes(n)


@pytest.fixture
def images() -> ImageFactory:
    return ImageFactory()


# --------------------------------------------------------------------------- shared data


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data next to the repository: research and CC0 data that is not committed here."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"{path} is absent: the research and CC0 development data are not on this machine")
    return path


def perspective(mark: Image.Image, tilt: float) -> Image.Image:
    """``mark`` warped as if the cloth were turned away by ``tilt`` (fraction of its height the far edge shrinks)."""
    w, h = mark.size
    d = tilt * h / 2
    # PIL's PERSPECTIVE maps output to input coordinates; solve its coefficients from four corner pairs.
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    dst = [(0, 0), (w, d), (w, h - d), (0, h)]
    a = []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    coeffs = np.linalg.solve(np.array(a, float), np.array([c for p in src for c in p], float))
    return mark.transform((w, h), Image.Transform.PERSPECTIVE, tuple(coeffs), Image.Resampling.BICUBIC)


def flagged_report(path: str = "x.jpg", text: str = "Adibas") -> Any:
    """A blocked ``ImageReport`` with a logo box at (10, 10)-(60, 40) and a look-alike text box at (100, 100)-(180, 130)."""
    from detector.types import Box, Decision, Flag, ImageReport, LogoMatch, Relation, Severity, TextSpan

    return ImageReport(
        path=path,
        ok=True,
        decision=Decision.BLOCK,
        risk=0.9,
        logos=(LogoMatch("Nike", 0.9, Box(10, 10, 60, 40), "marks/nike.png"),),
        texts=(TextSpan(text, 0.9, Box(100, 100, 180, 130), brand="Adidas", relation=Relation.LOOKALIKE),),
        flags=(Flag("lookalike_brand_text", Severity.BLOCK, f"{text!r} looks like Adidas", brand="Adidas",
                    evidence=(f"text {text!r}",)),),
        sha256="ab" * 32,
    )


def fabric(seed: int = 0, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A light, noisy, softly shaded background: cloth, not a flat test card."""
    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    shade = np.linspace(170, 215, w)[None, :] + np.linspace(0, 20, h)[:, None]
    img = shade[:, :, None] * np.array([1.0, 0.93, 0.8]) + rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
