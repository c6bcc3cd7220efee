"""Safe image input: a table of odd and hostile inputs, generated here, each with its expected result or error.

Every input is loaded twice, from a file and from bytes. Valid-but-odd inputs
check the RGB pixels that come out (not just "it loaded"); hostile ones check
the error type and a fragment of its message.
"""

from __future__ import annotations

import os
import resource
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from detector.config import Limits
from detector.errors import DetectorError, ImageTooLarge, InvalidImage
from detector.io import FolderWalk, LoadedImage, is_image_file, load_image, sniff_image, to_rgb

RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


def near(actual: tuple[int, ...], expected: tuple[int, ...], tol: int = 6) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable  # (ImageFactory) -> bytes
    suffix: str
    #: for inputs that load: checks on the LoadedImage (asserts inside)
    check: Callable[[LoadedImage], None] | None = None
    #: for inputs that must not load: (error type, fragment of the message)
    error: tuple[type[Exception], str] | None = None
    limits: Limits | None = None


def _pixels(*expected: tuple[tuple[int, int], tuple[int, int, int]], size: tuple[int, int] | None = None, tol: int = 6):
    def check(loaded: LoadedImage) -> None:
        assert loaded.image.mode == "RGB"
        if size is not None:
            assert loaded.image.size == size
            assert loaded.original_size == size
            assert loaded.scale == 1.0
        for xy, rgb in expected:
            got = loaded.image.getpixel(xy)
            assert near(got, rgb, tol), f"pixel {xy}: got {got}, expected {rgb}"

    return check


def _check_png16(loaded: LoadedImage) -> None:
    # Rows of 0, 32768, 65535: rescaled, the middle row is mid-grey; clipped, it would be white.
    assert [loaded.image.getpixel((0, y)) for y in range(3)] == [BLACK, (127, 127, 127), WHITE]


def _check_exif(loaded: LoadedImage) -> None:
    # Stored 40×20 red|blue; orientation 6 turns it upright to 20×40 with red on top.
    assert loaded.image.size == (20, 40) and loaded.original_size == (20, 40)
    assert near(loaded.image.getpixel((10, 5)), RED) and near(loaded.image.getpixel((10, 35)), BLUE)


def _check_downscaled(loaded: LoadedImage) -> None:
    assert loaded.image.size == (100, 50)
    assert loaded.original_size == (400, 200)
    assert loaded.scale == pytest.approx(4.0)
    assert near(loaded.image.getpixel((10, 10)), RED) and near(loaded.image.getpixel((90, 40)), BLUE)


TABLE = [
    # ----- odd but valid: must come out as the right RGB pixels
    Case("cmyk-jpeg", lambda im: im.cmyk_jpeg(), ".jpg", check=_pixels(((0, 0), RED), size=(20, 10))),
    Case("png-16bit-grey", lambda im: im.png16(), ".png", check=_check_png16),
    Case(
        "palette-png-transparent",
        lambda im: im.palette_png_transparent(),
        ".png",
        check=_pixels(((0, 0), GREEN), ((5, 5), WHITE), size=(8, 8), tol=0),  # transparent red → white
    ),
    Case(
        "rgba-png",
        lambda im: im.rgba_png(),
        ".png",
        check=_pixels(((0, 0), WHITE), ((1, 0), BLUE), ((2, 0), (127, 127, 127)), size=(3, 1), tol=1),
    ),
    Case("la-png", lambda im: im.la_png(), ".png", check=_pixels(((0, 0), WHITE), ((1, 0), BLACK), tol=0)),
    Case("1-bit-png", lambda im: im.one_bit_png(), ".png", check=_pixels(((0, 0), BLACK), ((1, 0), WHITE), tol=0)),
    Case("grey-jpeg", lambda im: im.grey_jpeg(), ".jpg", check=_pixels(((4, 4), (128, 128, 128)), size=(8, 8), tol=2)),
    Case("exif-orientation-6", lambda im: im.exif_rotated_jpeg(6), ".jpg", check=_check_exif),
    Case("animated-gif", lambda im: im.animated_gif(), ".gif", check=_pixels(((5, 5), RED), size=(10, 10), tol=0)),
    Case("multipage-tiff", lambda im: im.multipage_tiff(), ".tif", check=_pixels(((5, 5), RED), size=(10, 10), tol=0)),
    Case("webp", lambda im: im.webp(), ".webp", check=_pixels(((5, 5), RED), size=(10, 10), tol=8)),
    Case("bmp", lambda im: im.bmp(), ".bmp", check=_pixels(((5, 5), RED), size=(10, 10), tol=0)),
    Case(
        "downscaled-beyond-max-side",
        lambda im: im.encode(im.halves((400, 200)), "PNG"),
        ".png",
        check=_check_downscaled,
        limits=Limits(max_side=100),
    ),
    # ----- hostile: must raise the right error with a useful message
    Case("truncated-jpeg", lambda im: im.truncated_jpeg(), ".jpg", error=(InvalidImage, "truncated")),
    Case("zero-bytes", lambda im: b"", ".jpg", error=(InvalidImage, "empty (0 bytes)")),
    Case("text-named-jpg", lambda im: im.text(), ".jpg", error=(InvalidImage, "looks like text")),
    Case(
        "random-bytes-named-png", lambda im: im.random_bytes(), ".png", error=(InvalidImage, "not a recognised image")
    ),
    Case("png-magic-then-garbage", lambda im: im.png()[:8] + im.random_bytes(200), ".png", error=(InvalidImage, "")),
    Case("jpeg-header-only", lambda im: im.jpeg()[:200], ".jpg", error=(InvalidImage, "")),
    Case(
        "ico-unsupported", lambda im: im.encode(im.rgb((16, 16)), "ICO"), ".ico", error=(InvalidImage, "not supported")
    ),
    Case("ppm-unsupported", lambda im: im.encode(im.rgb((4, 4)), "PPM"), ".jpg", error=(InvalidImage, "not supported")),
    Case(
        "png-header-100000x100000",
        lambda im: im.png_header(100_000, 100_000),
        ".png",
        error=(ImageTooLarge, "40,000,000 pixels"),
    ),
    Case(
        # Over our 40 Mpx limit but under PIL's own bomb threshold: our header check must catch it.
        # The file has no pixel data, so "too large" (not "truncated") proves nothing was decoded.
        "png-header-8000x6000",
        lambda im: im.png_header(8000, 6000),
        ".png",
        error=(ImageTooLarge, "8000×6000 pixels (48 Mpx); the limit is 40 Mpx"),
    ),
    Case(
        "jpeg-over-max-pixels",
        lambda im: im.jpeg((200, 100)),
        ".jpg",
        error=(ImageTooLarge, "200×100 pixels (20,000 pixels); the limit is 10,000 pixels"),
        limits=Limits(max_pixels=10_000),
    ),
    Case(
        "file-over-max-file-bytes",
        lambda im: im.encode(im.noise((64, 64)), "PNG"),
        ".png",
        error=(ImageTooLarge, "the limit is 1,000 bytes: resize it or raise `limits.max_file_bytes`"),
        limits=Limits(max_file_bytes=1000),
    ),
]


@pytest.mark.parametrize("via", ["path", "bytes"])
@pytest.mark.parametrize("case", TABLE, ids=[c.id for c in TABLE])
def test_load_table(case: Case, via: str, images, tmp_path: Path) -> None:
    data = case.make(images)
    if via == "path":
        source: object = images.write(tmp_path / f"input{case.suffix}", data)
    else:
        source = data
    limits = case.limits or Limits()
    if case.error is not None:
        kind, fragment = case.error
        with pytest.raises(kind) as info:
            load_image(source, limits)  # type: ignore[arg-type]
        assert fragment in str(info.value)
        if via == "path":
            assert str(source) in str(info.value)  # the message names the file
    else:
        loaded = load_image(source, limits)  # type: ignore[arg-type]
        assert case.check is not None
        case.check(loaded)
        assert loaded.sha256 is not None and len(loaded.sha256) == 64
        assert loaded.format in {"JPEG", "MPO", "PNG", "GIF", "WEBP", "TIFF", "BMP"}


def test_bomb_header_fails_fast_without_allocating(images, tmp_path):
    path = images.write(tmp_path / "bomb.png", images.png_header(100_000, 100_000))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge):
        load_image(path)
    elapsed = time.perf_counter() - started
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert elapsed < 1.0, f"took {elapsed:.2f} s: the header should be enough"
    # 100000×100000 RGB would be 30 GB; allow a few MB of interpreter noise.
    assert grown_kib < 50 * 1024, f"peak memory grew by {grown_kib} KiB"
    assert path.stat().st_size < 100


def test_file_size_is_checked_before_reading(images, tmp_path, monkeypatch):
    path = images.write(tmp_path / "big.png", images.encode(images.noise((64, 64)), "PNG"))
    opened = []
    real_open = Path.open

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy)
    with pytest.raises(ImageTooLarge):
        load_image(path, Limits(max_file_bytes=1000))
    assert path not in opened


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview], ids=["bytes", "bytearray", "memoryview"])
def test_bytes_like_inputs(images, wrap):
    loaded = load_image(wrap(images.png((7, 5), BLUE)))
    assert loaded.image.size == (7, 5) and loaded.image.getpixel((0, 0)) == BLUE
    assert loaded.source == "<bytes>"
    assert loaded.format == "PNG"


def test_bytes_and_path_give_the_same_hash(images, tmp_path):
    data = images.jpeg()
    path = images.write(tmp_path / "a.jpg", data)
    assert load_image(path).sha256 == load_image(data).sha256


def test_name_labels_errors(images):
    with pytest.raises(InvalidImage, match="^upload-7: "):
        load_image(b"", name="upload-7")


@pytest.mark.parametrize(
    "img, expected",
    [
        (Image.new("RGB", (6, 4), RED), RED),
        (Image.new("RGBA", (6, 4), (0, 0, 255, 0)), WHITE),
        (Image.new("L", (6, 4), 0), BLACK),
        (Image.new("CMYK", (6, 4), (0, 0, 0, 255)), BLACK),
    ],
    ids=["rgb", "rgba-transparent", "grey", "cmyk"],
)
def test_pil_input(img, expected):
    loaded = load_image(img)
    assert loaded.image.mode == "RGB" and loaded.image.size == (6, 4)
    assert loaded.image.getpixel((1, 1)) == expected
    assert loaded.sha256 is None and loaded.format is None
    assert loaded.source == "<PIL image>"


def test_pil_input_respects_limits(images):
    with pytest.raises(ImageTooLarge, match="max_pixels"):
        load_image(images.rgb((200, 100)), Limits(max_pixels=10_000))
    loaded = load_image(images.halves((400, 200)), Limits(max_side=100))
    assert loaded.image.size == (100, 50) and loaded.original_size == (400, 200) and loaded.scale == 4.0


def test_pil_input_is_not_modified(images):
    original = images.halves((400, 200))
    load_image(original, Limits(max_side=100))
    assert original.size == (400, 200)


@pytest.mark.parametrize("source", [42, None, 3.5, ["a.jpg"], object()], ids=["int", "none", "float", "list", "object"])
def test_unsupported_source_type(source):
    with pytest.raises(InvalidImage, match=f"cannot load an image from a {type(source).__name__}"):
        load_image(source)  # type: ignore[arg-type]


def test_directory_path(tmp_path):
    with pytest.raises(InvalidImage, match="is a directory"):
        load_image(tmp_path)


def test_missing_path(tmp_path):
    with pytest.raises(InvalidImage, match="no such file") as info:
        load_image(tmp_path / "gone.jpg")
    assert "gone.jpg" in str(info.value)


def test_errors_are_detector_errors():
    assert issubclass(ImageTooLarge, InvalidImage) and issubclass(InvalidImage, DetectorError)


@pytest.mark.parametrize(
    "mode, values, expected",
    [
        ("I", [[0, 1000], [500, 1000]], [0, 255, 127, 255]),  # 32-bit ints: stretched min..max
        ("F", [[-1.0, 1.0], [0.0, 1.0]], [0, 255, 127, 255]),
        ("F", [[float("nan"), 1.0], [0.0, float("inf")]], [0, 255, 0, 0]),  # non-finite → 0, no warnings
        ("F", [[5.0, 5.0], [5.0, 5.0]], [0, 0, 0, 0]),  # flat image: no division by zero
    ],
    ids=["int32", "float", "float-nan-inf", "float-flat"],
)
def test_to_rgb_wide_modes(mode, values, expected):
    import warnings

    import numpy as np

    arr = np.array(values, dtype=np.int32 if mode == "I" else np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb = to_rgb(Image.fromarray(arr, mode))
    assert rgb.mode == "RGB"
    assert list(rgb.convert("L").tobytes()) == expected


# --------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    "fmt, expected",
    [("JPEG", True), ("PNG", True), ("GIF", True), ("BMP", True), ("TIFF", True), ("WEBP", True), ("PPM", False)],
)
def test_sniff_image(images, fmt, expected):
    assert sniff_image(images.encode(images.rgb((4, 4)), fmt)[:16]) is expected


def test_sniff_rejects_text_and_empty(images):
    assert not sniff_image(images.text())
    assert not sniff_image(b"")
    assert not sniff_image(b"RIFF\x00\x00\x00\x00WAVE")  # RIFF, but audio


# --------------------------------------------------------------------------- folder walking


def _tree(root: Path, images, order: list[str]) -> None:
    """The same tree whatever ``order`` files are created in."""
    makers = {
        "b.jpg": lambda p: images.write(p, images.jpeg()),
        "a.png": lambda p: images.write(p, images.png()),
        "z.webp": lambda p: images.write(p, images.webp()),
        "notes.txt": lambda p: p.write_text("hello"),
        ".DS_Store": lambda p: p.write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(100)),
        "noext": lambda p: images.write(p, images.png()),  # a PNG known only by its magic bytes
        "fake.jpg": lambda p: p.write_bytes(images.text()),  # claims to be an image: must be scanned
        "sub/c.JPG": lambda p: images.write(p, images.jpeg()),
        "sub/readme.md": lambda p: p.write_text("# hi"),
        "sub/deeper/d.gif": lambda p: images.write(p, images.animated_gif()),
        "sub2/e.tiff": lambda p: images.write(p, images.multipage_tiff()),
    }
    for name in order:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        makers[name](path)


TREE_FILES = [
    "b.jpg",
    "a.png",
    "z.webp",
    "notes.txt",
    ".DS_Store",
    "noext",
    "fake.jpg",
    "sub/c.JPG",
    "sub/readme.md",
    "sub/deeper/d.gif",
    "sub2/e.tiff",
]
TREE_IMAGES = {"a.png", "b.jpg", "z.webp", "noext", "fake.jpg", "sub/c.JPG", "sub/deeper/d.gif", "sub2/e.tiff"}
TREE_SKIPPED = {"notes.txt", ".DS_Store", "sub/readme.md"}


def _rel(paths, root: Path) -> list[str]:
    return [Path(p).relative_to(root).as_posix() for p in paths]


def test_walk_recursive_finds_images_and_counts_skips(tmp_path, images):
    _tree(tmp_path, images, TREE_FILES)
    walk = FolderWalk([tmp_path])
    found = _rel(walk, tmp_path)
    assert set(found) == TREE_IMAGES
    assert len(found) == len(set(found))
    assert set(_rel(walk.skipped, tmp_path)) == TREE_SKIPPED


def test_walk_is_sorted_and_stable(tmp_path, images):
    one, two = tmp_path / "one", tmp_path / "two"
    _tree(one, images, TREE_FILES)
    _tree(two, images, list(reversed(TREE_FILES)))  # created in the opposite order
    first = _rel(FolderWalk([one]), one)
    assert first == _rel(FolderWalk([one]), one)  # same result twice
    assert first == _rel(FolderWalk([two]), two)  # independent of creation (directory) order
    # Within each folder, files come in name order.
    by_parent: dict[str, list[str]] = {}
    for rel in first:
        parent, _, name = rel.rpartition("/")
        by_parent.setdefault(parent, []).append(name)
    assert all(names == sorted(names) for names in by_parent.values())


def test_walk_then_load_gives_an_error_for_the_text_jpg(tmp_path, images):
    _tree(tmp_path, images, TREE_FILES)
    results = {}
    for path in FolderWalk([tmp_path]):
        try:
            load_image(path)
            results[path.name] = "ok"
        except InvalidImage as exc:
            results[path.name] = str(exc)
    assert "looks like text" in results.pop("fake.jpg")
    assert set(results.values()) == {"ok"}


def test_walk_symlink_loop_terminates_and_yields_each_file_once(tmp_path, images):
    root = tmp_path / "root"
    images.write(root / "a.jpg", images.jpeg())
    images.write(root / "sub" / "b.png", images.png())
    os.symlink(root, root / "sub" / "loop")  # sub/loop → root: a cycle
    os.symlink(root / "sub", root / "alias")  # a second way into sub
    found = list(FolderWalk([root]))
    real = [os.path.realpath(p) for p in found]
    assert sorted(real) == sorted({os.path.realpath(root / "a.jpg"), os.path.realpath(root / "sub" / "b.png")})
    assert len(real) == len(set(real))


def test_walk_same_folder_twice_is_scanned_once(tmp_path, images):
    images.write(tmp_path / "a.jpg", images.jpeg())
    assert len(list(FolderWalk([tmp_path, tmp_path]))) == 1


def test_walk_broken_symlinks(tmp_path, images):
    images.write(tmp_path / "a.jpg", images.jpeg())
    os.symlink(tmp_path / "missing.jpg", tmp_path / "gone.jpg")  # claims an image: scanned, gets an error
    os.symlink(tmp_path / "missing", tmp_path / "gone")  # claims nothing: skipped
    walk = FolderWalk([tmp_path])
    found = [p.name for p in walk]
    assert found == ["a.jpg", "gone.jpg"]
    assert [p.name for p in walk.skipped] == ["gone"]
    with pytest.raises(InvalidImage, match="no such file"):
        load_image(tmp_path / "gone.jpg")


def test_walk_explicit_file_is_always_yielded(tmp_path):
    note = tmp_path / "notes.txt"
    note.write_text("hi")
    walk = FolderWalk([note])
    assert list(walk) == [note] and walk.skipped == []


def test_is_image_file(tmp_path, images):
    assert is_image_file(images.write(tmp_path / "x.PNG", b"anything"))  # the extension claims it
    assert is_image_file(images.write(tmp_path / "photo", images.jpeg()))  # the magic bytes say it
    assert not is_image_file(images.write(tmp_path / "notes", b"plain text"))
    assert not is_image_file(tmp_path / "does-not-exist")


# -- special files: never opened ------------------------------------------------------------------


def _within(seconds: float, fn: Callable[[], Any]) -> Any:
    """``fn()`` in a daemon thread; fails (instead of hanging the suite) when it takes longer."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s (a FIFO was opened?)"
    if "error" in result:
        raise result["error"]
    return result.get("value")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_walk_skips_fifos_and_sockets_without_opening_them(tmp_path, images):
    images.write(tmp_path / "a.jpg", images.jpeg())
    os.mkfifo(tmp_path / "b.jpg")  # named like an image
    os.mkfifo(tmp_path / "b_noext")  # would be opened for the magic-bytes check
    os.symlink(tmp_path / "b.jpg", tmp_path / "link-to-fifo.png")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s.jpg"))
        walk = FolderWalk([tmp_path])
        found = _within(10, lambda: [p.name for p in walk])
    assert found == ["a.jpg"]
    assert sorted(p.name for p in walk.skipped) == ["b.jpg", "b_noext", "link-to-fifo.png", "s.jpg"]
    assert not is_image_file(tmp_path / "b.jpg")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_loading_a_fifo_is_an_error_not_a_hang(tmp_path):
    os.mkfifo(tmp_path / "b.jpg")
    with pytest.raises(InvalidImage, match=r"b\.jpg: is a FIFO \(named pipe\), not a regular file"):
        _within(10, lambda: load_image(tmp_path / "b.jpg"))


def test_loading_a_device_is_an_error(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    # /dev/zero would stream zeros up to the byte limit; it is refused before a read.
    with pytest.raises(InvalidImage, match="is a character device"):
        _within(10, lambda: load_image("/dev/zero"))


# -- messages that say what is wrong, and nothing on stderr ------------------------------------------


def _mutated(seed: str, ops: list[tuple[str, float, int]]) -> bytes:
    from image_fuzz import mutate, seeds

    return mutate(seeds()[seed], ops)


def _tiff_with_samples_per_pixel(value: int) -> bytes:
    """A valid little-endian TIFF whose SamplesPerPixel tag (277) is rewritten to ``value``."""
    from image_fuzz import seeds

    data = bytearray(seeds()["tiff-raw"])
    ifd = int.from_bytes(data[4:8], "little")
    for i in range(int.from_bytes(data[ifd : ifd + 2], "little")):
        entry = ifd + 2 + 12 * i
        if int.from_bytes(data[entry : entry + 2], "little") == 277:
            data[entry + 8 : entry + 10] = value.to_bytes(2, "little")
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "limits", "says", "never"),
    [
        # Pillow's own cap (178,956,970 pixels) beside ours read as a second, contradicting limit.
        (
            lambda im: im.png_header(100_000, 100_000),
            Limits(),
            "claims 10,000,000,000 pixels; the limit is 40,000,000 pixels",
            ["178956970", "exceeds limit"],
        ),
        # Rounded, an over-limit size read as the limit itself.
        (
            lambda im: b"\xff" * 26_214_401,
            Limits(),
            "file is 26,214,401 bytes; the limit is 26,214,400 bytes (26.2 MB)",
            ["26.2 MB; the limit"],
        ),
        (
            lambda im: im.png_header(1000, 1001),
            Limits(max_pixels=1_000_000),
            "(1,001,000 pixels); the limit is 1,000,000 pixels (1 Mpx)",
            ["(1 Mpx); the limit is 1 Mpx"],
        ),
        # Binary headers decode as UTF-8 too: they are not "text".
        (lambda im: b"GIF89a", Limits(), "starts like a GIF file but its header cannot be read", ["looks like text"]),
        (lambda im: b"BM\x00\x00\x00\x00", Limits(), "starts like a BMP file", ["looks like text"]),
        (lambda im: b"II*\x00\x08\x00\x00\x00", Limits(), "starts like a TIFF file", ["looks like text"]),
        # Pillow's "decoder error -2" and "cannot load this image" name no cause.
        (
            lambda im: _mutated("tiff-group4", [("dup", 0.3764, 1189), ("int32", 0.0467, 23713)]),
            Limits(),
            "the TIFF pixel data is corrupt or missing: the header was read but the pixels cannot be decoded",
            ["decoder error"],
        ),
        (
            lambda im: _mutated("jpeg-cmyk", [("flip", 0.4635, 24842), ("delete", 0.1063, 60043)]),
            Limits(),
            "the JPEG pixel data is corrupt or missing",
            ["cannot load this image"],
        ),
    ],
    ids=["pillow-bomb", "bytes-rounding", "pixels-rounding", "gif-header", "bmp-header", "tiff-header",
         "decoder-error", "cannot-load"],
)
def test_refusals_say_what_is_wrong(images, data, limits, says, never):
    with pytest.raises(InvalidImage) as info:
        load_image(data(images), limits, name="x")
    message = str(info.value)
    assert says in message
    assert not any(n in message for n in never), message


@pytest.mark.parametrize(
    "data",
    [
        # Pillow EXIF warnings ("Tag data larger than file", "Corrupt EXIF data") and numpy's cast warning
        # on a float TIFF: each leaked past the old filters (found by tests/image_fuzz.py).
        lambda: _mutated("jpeg-exif", [("insert", 0.29013570261259003, 9810), ("int16", 0.03957803944250715, 20659)]),
        lambda: _mutated(
            "jpeg-exif",
            [("set", 0.6229806202063485, 26681), ("set", 0.12855364377338496, 40742),
             ("set", 0.07146568528387409, 21654), ("int32", 0.033256413018372455, 56354)],
        ),
        lambda: _mutated("tiff-float", [("int32", 0.10286457352861578, 12308), ("insert", 0.04517062211791478, 16128)]),
        # libtiff prints "ZIPDecode: Decoding error…" on fd 2 itself; Pillow logs an ERROR before raising.
        lambda: _mutated("tiff-tiff_adobe_deflate", [("int32", 0.5, 7), ("int32", 0.6, 9), ("int32", 0.7, 11)]),
        lambda: _tiff_with_samples_per_pixel(7168),
    ],
    ids=["exif-tag-data", "exif-corrupt", "numpy-cast", "libtiff", "pil-log"],
)
def test_nothing_leaks_to_stderr_or_warnings(capfd, caplog, data):
    import logging
    import warnings

    caplog.set_level(logging.DEBUG, logger="detector")  # pytest's log capture stands in for stderr here

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            load_image(data(), name="x")
        except InvalidImage:
            pass
    out, err = capfd.readouterr()
    assert [str(w.message) for w in caught] == []
    assert (out, err) == ("", "")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
