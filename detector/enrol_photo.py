"""Few-shot enrolment from a product photo: find the brand's logo in it, crop it, keep the crop as a mark.

Rights-holders rarely have a clean vector of every version of their mark, but they have product photos.
``add_photo_mark`` locates the logo with the logo stages (the brand must already have a mark for that),
or takes the box it is given, crops it with a little margin, and enrols the crop through
``detector.enrol.add_brand`` (validated, atomic). Where the crop came from is written beside it
(``marks/<crop>.source.json``) so ``catalog list --verbose`` can show it.

>>> add_photo_mark("my-catalog", "Nike", "shoe.jpg")                        # doctest: +SKIP
>>> add_photo_mark("my-catalog", "Acme", "tag.jpg", box=(40, 60, 220, 180))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from detector.catalog import Catalog, load_catalog
from detector.errors import CatalogError, DetectorError

MARGIN = 0.1  # of the box's size on each side: a detector's box is tight, the stages match with context
SOURCE_SUFFIX = ".source.json"


@dataclass(frozen=True)
class PhotoCrop:
    """Where an enrolled crop came from."""

    mark: str  # the new mark, as written in catalog.yaml
    photo: str
    photo_sha256: str
    box: tuple[int, int, int, int]  # the crop, in the photo's pixels
    found_by: str  # the logo stage that located it, or "--box"


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x1,y1,x2,y2"`` → a box; ``CatalogError`` saying what is wrong otherwise."""
    try:
        x1, y1, x2, y2 = (float(v) for v in text.split(","))
    except ValueError:
        raise CatalogError(f"--box must be four numbers x1,y1,x2,y2 in pixels, got {text!r}") from None
    if not (x2 > x1 and y2 > y1):
        raise CatalogError(f"--box {text!r} is empty: x2 must exceed x1 and y2 exceed y1")
    return x1, y1, x2, y2


def _locate(catalog: Catalog, name: str, image, logos=None) -> tuple[tuple[float, float, float, float], str]:
    brand = catalog.find(name)
    if brand is None or not brand.marks:
        raise CatalogError(
            f"brand {name!r} has no mark yet, so its logo cannot be found in the photo: give the logo's box with "
            f"--box x1,y1,x2,y2 (pixels), or enrol a clean mark first with --mark"
        )
    if logos is None:
        from detector.config import LogosConfig
        from detector.logos import build_logo_stage

        logos = build_logo_stage(LogosConfig(), catalog)
    found = [m for m in logos.find(image) if m.brand == brand.name]
    if not found:
        raise CatalogError(
            f"no mark of {brand.name!r} was found in the photo by the logo stages ({logos.name}): "
            f"give the logo's box with --box x1,y1,x2,y2 (pixels)"
        )
    return found[0].box.to_list(), logos.name


def add_photo_mark(
    directory: str | Path,
    name: str,
    photo: str | Path,
    *,
    box: tuple[float, float, float, float] | None = None,
    logos=None,
) -> tuple[Catalog, PhotoCrop]:
    """Enrol the logo seen in ``photo`` as a new mark of brand ``name``; return the catalog and the crop's origin.

    ``box`` (pixels of the photo) skips the search; ``logos`` is the stage that searches (default: the
    configured logo stages over this catalog).
    """
    from detector.enrol import add_brand
    from detector.io import load_image

    catalog = load_catalog(directory)
    src = Path(photo).expanduser()
    try:
        loaded = load_image(src)
    except DetectorError as exc:
        raise CatalogError(f"photo {str(src)!r}: {exc}") from exc
    image = loaded.image
    # ``image`` may be a downscaled copy of the photo (``loaded.scale`` = photo pixels per image pixel):
    # the search and the crop work on it, the box the user gives and the one recorded are the photo's.
    if box is None:
        found, found_by = _locate(catalog, name, image, logos)
    else:
        found, found_by = tuple(v / loaded.scale for v in box), "--box"
    x1, y1, x2, y2 = found
    mx, my = (x2 - x1) * MARGIN, (y2 - y1) * MARGIN
    w, h = image.size
    crop_box = (max(0, int(x1 - mx)), max(0, int(y1 - my)), min(w, int(x2 + mx + 0.5)), min(h, int(y2 + my + 0.5)))
    if crop_box[2] - crop_box[0] < 8 or crop_box[3] - crop_box[1] < 8:
        raise CatalogError(f"the logo's box {tuple(round(v) for v in found)} is outside the photo or under 8 px")
    crop = image.crop(crop_box)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{src.stem}-crop.png"
        crop.save(path, "PNG")
        before = set(catalog.find(name).marks) if catalog.find(name) else set()
        updated = add_brand(directory, name, marks=[path])
    new = next(m for m in updated.brand(name).marks if m not in before)
    origin = PhotoCrop(
        mark=new,
        photo=str(src),
        photo_sha256=hashlib.sha256(src.read_bytes()).hexdigest(),
        box=tuple(round(v * loaded.scale) for v in crop_box),  # type: ignore[arg-type]
        found_by=found_by,
    )
    _write_source(updated.root / (new + SOURCE_SUFFIX), origin)
    return updated, origin


def read_source(catalog: Catalog, mark: str) -> PhotoCrop | None:
    """The recorded origin of ``mark`` when it was cropped from a photo, else None."""
    try:
        raw = json.loads((catalog.root / (mark + SOURCE_SUFFIX)).read_text(encoding="utf-8"))
        return PhotoCrop(**{**raw, "box": tuple(raw["box"])})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _write_source(path: Path, origin: PhotoCrop) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(asdict(origin), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
