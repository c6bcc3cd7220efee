"""Enrolment: create a catalog, add a brand (its aliases, marks, sellers) or remove one.

Every change is validated as a whole ``Catalog`` before anything is copied, and ``catalog.yaml`` is
rewritten atomically (a temp file in the same directory, fsync, ``os.replace``): a crash leaves the
old file or the new one, never half of either. Loading and the format live in ``detector.catalog``.

>>> from detector.enrol import init_catalog, add_brand       # doctest: +SKIP
>>> add_brand(init_catalog("my-catalog"), "Nike", marks=["swoosh.png"], aliases=["NIKE Inc"])  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from detector.catalog import (
    CATALOG_FILE,
    MARKS_DIR,
    OFFICIAL_DIR,
    Brand,
    Catalog,
    _string_list,
    _verify_image,
    load_catalog,
)
from detector.errors import CatalogError

_WRITTEN_HEADER = "Brand catalog (format: docs/DESIGN.md). Rewritten by detector.enrol: comments are not kept."
# PIL format name -> extension given to an enrolled mark (the source's own suffix may be missing or odd).
_EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif"}


def init_catalog(directory: str | Path) -> Catalog:
    """Create an empty, valid catalog in ``directory`` (made if missing); refuses to overwrite one."""
    root = Path(directory).expanduser()
    target = root / CATALOG_FILE
    if target.exists():
        raise CatalogError(f"{target} already exists; load it with load_catalog or choose another directory")
    (root / MARKS_DIR).mkdir(parents=True, exist_ok=True)
    catalog = Catalog(root=root.resolve(), brands=())
    _write_yaml(target, catalog)
    return load_catalog(root)


def add_brand(
    directory: str | Path,
    name: str,
    marks: Sequence[str | Path] = (),
    aliases: Sequence[str] = (),
    authorized_sellers: Sequence[str] = (),
    official_photos: Sequence[str | Path] = (),
) -> Catalog:
    """Enrol ``name`` (or extend it, if it is already a name or alias) and return the updated catalog.

    Each mark file is checked to be an image, then copied into ``marks/`` under a name slugged from
    the brand and the file (``Nike`` + ``swoosh.png`` -> ``marks/nike-swoosh.png``); official photos
    (the rights-holder's catalogue pictures) likewise into ``official/``. New aliases and sellers are
    appended. ``catalog.yaml`` is replaced atomically; if anything fails, the copied
    marks are removed and the old catalog stays as it was.
    """
    catalog = load_catalog(directory)
    if not isinstance(name, str) or not name.strip():
        raise CatalogError(f"brand name must be a non-empty string, got {name!r}")
    for label, values in (("aliases", aliases), ("authorized_sellers", authorized_sellers)):
        _string_list(f"brand {name!r}", label, values if isinstance(values, str) else list(values))
    existing = catalog.find(name)
    base = existing or Brand(name=name)

    known = {hashlib.sha256(catalog._read_mark(m)).hexdigest(): (b.name, m) for b, m in catalog.iter_marks()}
    plans = _plan(catalog, base, marks, MARKS_DIR, "mark", known)
    known_photos = {hashlib.sha256(catalog._read_mark(p)).hexdigest(): (b.name, p)
                    for b in catalog for p in b.official_photos}
    photo_plans = _plan(catalog, base, official_photos, OFFICIAL_DIR, "official photo", known_photos)

    updated = dataclasses.replace(
        base,
        aliases=_merge(base.aliases, aliases, exclude=base.name),
        marks=base.marks + tuple(m for _, m in plans),
        authorized_sellers=_merge(base.authorized_sellers, authorized_sellers),
        official_photos=base.official_photos + tuple(m for _, m in photo_plans),
    )
    brands = [updated if b is existing else b for b in catalog.brands]
    if existing is None:
        brands.append(updated)
    new_catalog = Catalog(root=catalog.root, brands=tuple(brands))  # checks alias collisions before any copy

    copied: list[Path] = []
    try:
        (catalog.root / MARKS_DIR).mkdir(exist_ok=True)
        if photo_plans:
            (catalog.root / OFFICIAL_DIR).mkdir(exist_ok=True)
        for src, mark in [*plans, *photo_plans]:
            dest = catalog.root / mark
            shutil.copyfile(src, dest)
            copied.append(dest)
        _write_yaml(catalog.root / CATALOG_FILE, new_catalog)
    except BaseException:
        for dest in copied:
            dest.unlink(missing_ok=True)
        raise
    return load_catalog(catalog.root)


def _plan(
    catalog: Catalog, brand: Brand, files: Sequence[str | Path] | str | Path, folder: str, what: str,
    known: dict[str, tuple[str, str]],
) -> list[tuple[Path, str]]:
    """(source, path as written in catalog.yaml) for each file to copy into ``folder``; each is checked to be
    an image not enrolled already (``known``: sha256 -> (brand, path))."""
    sources = [Path(m).expanduser() for m in (files if not isinstance(files, (str, Path)) else [files])]
    plans: list[tuple[Path, str]] = []
    taken = {p.name.casefold() for p in (catalog.root / folder).glob("*")}
    for src in sources:
        where = f"brand {brand.name!r}: {what} file {str(src)!r}"
        if not src.is_file():
            raise CatalogError(f"{where} does not exist")
        fmt = _verify_image(where, src)
        digest = hashlib.sha256(src.read_bytes()).hexdigest()
        if digest in known:
            owner, mark = known[digest]
            raise CatalogError(f"{where} is already enrolled as {mark!r} of brand {owner!r}")
        known[digest] = (brand.name, str(src))
        filename = _mark_filename(brand.name, src, _EXTENSIONS.get(fmt, src.suffix.lower() or ".img"), taken)
        taken.add(filename.casefold())
        plans.append((src, f"{folder}/{filename}"))
    return plans


def remove_brand(directory: str | Path, name: str, *, delete_marks: bool = True) -> Catalog:
    """Remove the brand ``name`` (a name or alias) and return the updated catalog.

    Its mark files are deleted only after ``catalog.yaml`` has been replaced, so an interruption
    leaves at worst an unused file, never a catalog naming a missing mark.
    """
    catalog = load_catalog(directory, check_images=False)
    gone = catalog.brand(name)
    new_catalog = Catalog(root=catalog.root, brands=tuple(b for b in catalog.brands if b is not gone))
    _write_yaml(catalog.root / CATALOG_FILE, new_catalog)
    if delete_marks:
        for mark in (*gone.marks, *gone.official_photos):
            (catalog.root / mark).unlink(missing_ok=True)
    return load_catalog(catalog.root)


def slugify(text: str) -> str:
    """A lowercase ASCII file-name stem: ``"McDonald's"`` -> ``"mcdonalds"``, ``"H&M"`` -> ``"handm"``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    ascii_text = re.sub(r"['\u2019`.]", "", ascii_text.replace("&", "and"))
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


def _mark_filename(brand: str, src: Path, ext: str, taken: set[str]) -> str:
    # A brand with no ASCII letters (e.g. 小米) still gets a stable, unique stem.
    stem = slugify(brand) or "brand-" + hashlib.sha256(brand.encode("utf-8")).hexdigest()[:8]
    src_slug = slugify(src.stem)
    if src_slug and not src_slug.startswith(stem):
        stem = f"{stem}-{src_slug}"
    candidate, n = stem + ext, 2
    while candidate.casefold() in taken:
        candidate, n = f"{stem}-{n}{ext}", n + 1
    return candidate


def _merge(old: tuple[str, ...], new: Iterable[str], exclude: str | None = None) -> tuple[str, ...]:
    # Exact-string dedupe, order kept: a case variant someone asked for ("NIKE") stays, as the loader allows it.
    return tuple(dict.fromkeys([*old, *(item for item in new if item != exclude)]))


def render_yaml(catalog: Catalog, header: str = "") -> str:
    """``catalog`` as ``catalog.yaml`` text (short lists in flow style), after an optional comment header."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
        # Lists of strings on one line ([NIKE, Nike Inc]); the brand mappings stay in block style.
        flow = all(isinstance(x, str) for x in data)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    _Dumper.add_representer(list, _list)
    body = yaml.dump(
        catalog.to_dict(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000
    )
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    return "\n".join(lines) + ("\n" if lines else "") + body


def _write_yaml(target: Path, catalog: Catalog) -> None:
    """Write ``catalog.yaml`` atomically: a temp file in the same directory, fsync, then os.replace.

    os.replace is atomic within one filesystem, so a reader (or a crash) sees the old file or the new
    one, never half of either.
    """
    text = render_yaml(catalog, header=_WRITTEN_HEADER)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file 0600; keep the old file's mode (or a readable default) so sharing still works.
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise CatalogError(f"cannot write {target}: {exc}; the previous file is unchanged") from exc
        raise
