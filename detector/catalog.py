"""The brand catalog: which brands the detector knows, their genuine spellings, marks and sellers.

A catalog is a directory holding ``catalog.yaml`` and the reference marks it names (format in
docs/DESIGN.md). ``load_catalog`` validates it strictly, because a typo in a rights-holder's catalog
silently turns into missed counterfeits; ``detector.enrol`` (``init_catalog``, ``add_brand``,
``remove_brand``) enrols brands and rewrites ``catalog.yaml`` atomically.

>>> catalog = load_catalog()             # the bundled demo catalog
>>> catalog.brand("coke").name
'Coca-Cola'
"""

from __future__ import annotations

import hashlib
import io
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.errors import CatalogError

if TYPE_CHECKING:
    from PIL import Image

CATALOG_FILE = "catalog.yaml"
MARKS_DIR = "marks"
FORMAT_VERSION = 1

_BRAND_KEYS = ("name", "aliases", "marks", "authorized_sellers", "min_price", "official_photos")
_LIST_KEYS = ("aliases", "marks", "authorized_sellers", "official_photos")
OFFICIAL_DIR = "official"
_TOP_KEYS = ("version", "brands")


def _key(name: str) -> str:
    """The form two spellings are compared in: NFKC (full-width letters fold) and case-folded."""
    return unicodedata.normalize("NFKC", name).casefold().strip()


@dataclass(frozen=True)
class Brand:
    """One brand: its display name, other genuine spellings, reference marks and authorised sellers.

    ``marks`` are paths relative to ``catalog.yaml``, exactly as written there; an empty
    ``authorized_sellers`` means seller checks are not enforced for the brand.
    """

    name: str
    aliases: tuple[str, ...] = ()
    marks: tuple[str, ...] = ()
    authorized_sellers: tuple[str, ...] = ()
    # Reference prices: ("", price) for the brand as a whole, (keyword, price) for products whose
    # listing text names the keyword ("air jordan", "submariner"). Empty: no price check.
    min_price: tuple[tuple[str, float], ...] = ()
    # The rights-holder's own catalogue photos (paths relative to catalog.yaml): a listing photo that copies
    # one, posted by a seller not in ``authorized_sellers``, is flagged ``official_photo_reuse``.
    official_photos: tuple[str, ...] = ()

    @property
    def all_names(self) -> tuple[str, ...]:
        """The display name followed by every alias."""
        return (self.name, *self.aliases)

    def to_dict(self) -> dict[str, Any]:
        """The brand as written in ``catalog.yaml``; empty optional fields are left out."""
        out: dict[str, Any] = {"name": self.name}
        for key in ("aliases", "marks", "authorized_sellers"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        if self.min_price:
            prices = dict(self.min_price)
            out["min_price"] = prices[""] if list(prices) == [""] else {k or "default": v for k, v in prices.items()}
        if self.official_photos:
            out["official_photos"] = list(self.official_photos)
        return out


@dataclass(frozen=True)
class Catalog:
    """A validated set of brands rooted at a catalog directory.

    Names and aliases are unique across brands (case-insensitively); constructing a ``Catalog``
    that breaks this raises ``CatalogError`` so no caller can hold an ambiguous one.
    """

    root: Path
    brands: tuple[Brand, ...]
    _lookup: dict[str, Brand] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        object.__setattr__(self, "brands", tuple(self.brands))
        lookup: dict[str, Brand] = {}
        for brand in self.brands:
            for spelling in brand.all_names:
                other = lookup.setdefault(_key(spelling), brand)
                if other is not brand:
                    raise CatalogError(
                        f"brand {brand.name!r}: {spelling!r} is already a name or alias of brand {other.name!r}; "
                        "names and aliases must be unique across brands (case-insensitive)"
                    )
        object.__setattr__(self, "_lookup", lookup)

    def __len__(self) -> int:
        return len(self.brands)

    def __iter__(self) -> Iterator[Brand]:
        return iter(self.brands)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._lookup

    @property
    def names(self) -> tuple[str, ...]:
        """Display names, in catalog order."""
        return tuple(b.name for b in self.brands)

    def find(self, name: str) -> Brand | None:
        """The brand that ``name`` is a name or alias of (case-insensitive), or None."""
        return self._lookup.get(_key(name))

    def brand(self, name: str) -> Brand:
        """The brand that ``name`` is a name or alias of (case-insensitive); ``CatalogError`` if none."""
        found = self.find(name)
        if found is None:
            raise CatalogError(
                f"brand {name!r} is not in the catalog at {self.root} ({len(self.brands)} brands); "
                "check the spelling or enrol it with add_brand"
            )
        return found

    def iter_marks(self) -> Iterator[tuple[Brand, str]]:
        """Every (brand, mark) pair, in catalog order: what a reference index is built from."""
        for brand in self.brands:
            for mark in brand.marks:
                yield brand, mark

    def mark_path(self, mark: str) -> Path:
        """The file of ``mark`` (as written in ``catalog.yaml``); ``CatalogError`` if no brand has it."""
        if not any(mark in b.marks for b in self.brands):
            raise CatalogError(f"mark {mark!r} is not a mark of any brand in the catalog at {self.root}")
        return self.root / mark

    def mark_bytes(self, brand: Brand, mark: str) -> bytes:
        """The file bytes of ``brand``'s ``mark``; ``CatalogError`` naming both when unreadable."""
        path = self.root / mark
        try:
            return path.read_bytes()
        except OSError as exc:
            raise CatalogError(f"brand {brand.name!r}: cannot read mark {mark!r} ({path}): {exc}") from exc

    def mark_image(self, brand: Brand, mark: str, data: bytes | None = None) -> Image.Image:
        """The decoded image of ``brand``'s ``mark`` (from ``data`` when the bytes are already read)."""
        from PIL import Image

        data = self.mark_bytes(brand, mark) if data is None else data
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                return im.copy()
        except OSError as exc:  # PIL's UnidentifiedImageError is an OSError too
            raise CatalogError(f"brand {brand.name!r}: cannot decode mark {mark!r} ({self.root / mark}): {exc}") from exc

    def content_hash(self) -> str:
        """sha256 over the normalised catalog content and the bytes of every mark, in catalog order.

        Comments and formatting of ``catalog.yaml`` do not change it; any name, alias, seller, mark
        path or mark pixel-file byte does. A reference index stores it to know when it is stale.
        """
        h = hashlib.sha256()
        h.update(json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        for _, mark in self.iter_marks():
            h.update(b"\0mark\0" + mark.encode("utf-8") + b"\0")
            h.update(hashlib.sha256(self._read_mark(mark)).digest())
        # Official photos decide flags too; a catalog without them hashes as it did before they existed.
        for brand in self.brands:
            for photo in brand.official_photos:
                h.update(b"\0official\0" + photo.encode("utf-8") + b"\0")
                h.update(hashlib.sha256(self._read_mark(photo)).digest())
        return h.hexdigest()

    @property
    def has_official_photos(self) -> bool:
        """Whether any brand lists ``official_photos`` (only then is the official-photo stage built)."""
        return any(b.official_photos for b in self.brands)

    def to_dict(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, "brands": [b.to_dict() for b in self.brands]}

    def _read_mark(self, mark: str) -> bytes:
        try:
            return (self.root / mark).read_bytes()
        except OSError as exc:
            raise CatalogError(
                f"cannot read mark {mark!r} of the catalog at {self.root}: {exc.strerror or exc}"
            ) from exc


def default_catalog_path() -> Path:
    """The bundled demo catalog directory (``detector/data/catalog``)."""
    return Path(__file__).resolve().parent / "data" / "catalog"


def _yaml_path(path: str | Path | None) -> Path:
    p = default_catalog_path() if path is None else Path(path).expanduser()
    return p / CATALOG_FILE if p.is_dir() or p.suffix.lower() not in (".yaml", ".yml") else p


def load_catalog(path: str | Path | None = None, *, check_images: bool = True) -> Catalog:
    """Load and validate a catalog: its directory or its ``catalog.yaml``; None is the bundled demo.

    ``check_images=False`` skips opening every mark (each is still checked to exist).
    """
    import yaml

    yaml_path = _yaml_path(path)
    try:
        text = yaml_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(
            f"no catalog at {yaml_path}: expected a directory holding {CATALOG_FILE} (create one with init_catalog)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read {yaml_path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{yaml_path}: not valid YAML: {exc}") from exc
    root = yaml_path.parent.resolve()
    try:
        brands = _parse(data, root, check_images=check_images)
        return Catalog(root=root, brands=brands)
    except CatalogError as exc:
        raise CatalogError(f"{yaml_path}: {exc}") from None


def _parse(data: Any, root: Path, *, check_images: bool) -> tuple[Brand, ...]:
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise CatalogError(f"expected a mapping with 'version: {FORMAT_VERSION}' and 'brands:', got {got}")
    unknown = sorted(set(map(str, data)) - set(_TOP_KEYS))
    if unknown:
        raise CatalogError(f"unknown top-level key(s) {unknown}; expected {list(_TOP_KEYS)}")
    version = data.get("version")
    if version is None:
        raise CatalogError(f"missing 'version: {FORMAT_VERSION}'")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise CatalogError(f"version {version!r} is not supported; this detector reads version {FORMAT_VERSION}")
    raw_brands = data.get("brands")
    if raw_brands is None:  # `brands:` with nothing under it: an empty catalog
        raw_brands = []
    if not isinstance(raw_brands, list):
        raise CatalogError(f"'brands' must be a list of brand mappings, got {type(raw_brands).__name__}")

    brands: list[Brand] = []
    seen_names: dict[str, int] = {}
    mark_owner: dict[Path, str] = {}  # resolved mark file -> name of the brand listing it
    for i, raw in enumerate(raw_brands):
        brand = _parse_brand(i, raw, root, check_images=check_images)
        where = f"brand {brand.name!r}"
        first = seen_names.setdefault(_key(brand.name), i)
        if first != i:
            raise CatalogError(
                f"{where} appears twice (brands[{first}] and brands[{i}]); names must be unique (case-insensitive)"
            )
        for j, mark in enumerate(brand.marks):
            # Compare files, not strings: "marks/a.png" and "./marks/a.png" are one mark.
            resolved = (root / mark).resolve()
            if resolved in mark_owner:
                raise CatalogError(
                    f"{where}: marks[{j}] {mark!r} is already a mark of brand {mark_owner[resolved]!r}; "
                    "each mark file may be listed once, under one brand"
                )
            mark_owner[resolved] = brand.name
        brands.append(brand)
    return tuple(brands)


def _parse_brand(i: int, raw: Any, root: Path, *, check_images: bool) -> Brand:
    where = f"brands[{i}]"
    if not isinstance(raw, dict):
        raise CatalogError(f"{where} must be a mapping with at least 'name', got {raw!r}")
    name = raw.get("name")
    if name is None:
        raise CatalogError(f"{where} has no 'name'; every brand needs a unique display name")
    if not isinstance(name, str) or not name.strip():
        raise CatalogError(f"{where}: 'name' must be a non-empty string, got {name!r} (quote it in YAML)")
    where = f"brand {name!r}"
    unknown = sorted(set(map(str, raw)) - set(_BRAND_KEYS))
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {unknown}; expected {list(_BRAND_KEYS)}")
    lists = {key: _string_list(where, key, raw.get(key)) for key in _LIST_KEYS}
    for key in ("marks", "official_photos"):
        for j, mark in enumerate(lists[key]):
            _check_mark(f"{where}: {key}[{j}] {mark!r}", mark, root, check_images=check_images)
    return Brand(name, lists["aliases"], lists["marks"], lists["authorized_sellers"],
                 _min_price(where, raw.get("min_price")), lists["official_photos"])


def _min_price(where: str, value: Any) -> tuple[tuple[str, float], ...]:
    """``min_price``: a number (the whole brand) or a mapping of product keyword → number (``default``:
    the whole brand), as ``(keyword, price)`` pairs with "" for the brand as a whole."""
    if value is None:
        return ()
    items = value.items() if isinstance(value, dict) else [("default", value)]
    out: list[tuple[str, float]] = []
    for key, price in items:
        label = "min_price" if not isinstance(value, dict) else f"min_price[{key!r}]"
        if not isinstance(key, str) or not key.strip():
            raise CatalogError(f"{where}: min_price keys must be product keywords (strings), got {key!r}")
        if isinstance(price, bool) or not isinstance(price, (int, float)) or not (0 < float(price) < float("inf")):
            raise CatalogError(f"{where}: {label} must be a positive number (a price), got {price!r}")
        keyword = "" if key == "default" else " ".join(_key(key).split())
        out.append((keyword, float(price)))
    return tuple(out)


def _string_list(where: str, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        raise CatalogError(f"{where}: '{key}' must be a list of strings, got the string {value!r}: write [{value}]")
    if not isinstance(value, list):
        raise CatalogError(f"{where}: '{key}' must be a list of strings, got {type(value).__name__} {value!r}")
    for j, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise CatalogError(f"{where}: {key}[{j}] must be a non-empty string, got {item!r} (quote it in YAML)")
    return tuple(value)


def _check_mark(where: str, mark: str, root: Path, *, check_images: bool) -> None:
    if Path(mark).is_absolute():
        raise CatalogError(f"{where} must be a path relative to {CATALOG_FILE}, like marks/brand.png")
    path = (root / mark).resolve()
    if not path.is_relative_to(root):
        raise CatalogError(f"{where} is outside the catalog directory {root}; keep marks under it (e.g. marks/)")
    if not path.is_file():
        raise CatalogError(f"{where} does not exist" + (" (it is a directory)" if path.is_dir() else ""))
    if check_images:
        _verify_image(where, path)


def _verify_image(where: str, path: Path) -> str:
    """Check that ``path`` decodes as an image; returns its PIL format name."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            fmt = im.format or ""
            im.verify()
    # PIL raises many types for a bad file (OSError, SyntaxError, struct.error, DecompressionBombError...).
    except Exception as exc:  # noqa: BLE001
        raise CatalogError(f"{where} is not a readable image ({type(exc).__name__}: {exc})") from None
    return fmt
