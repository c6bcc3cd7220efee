"""Brand catalog: validation messages, the bundled demo catalog, content hash, enrolment."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from detector.catalog import Brand, Catalog, default_catalog_path, load_catalog
from detector.enrol import add_brand, init_catalog, remove_brand, slugify
from detector.errors import CatalogError, DetectorError

# The FlickrLogos-27 brands that have a simple-icons mark, spelled as FlickrLogos spells them.
FLICKRLOGOS_WITH_MARK = [
    "Adidas",
    "Apple",
    "BMW",
    "Citroen",
    "Cocacola",
    "DHL",
    "Fedex",
    "Ferrari",
    "Ford",
    "Google",
    "HP",
    "Intel",
    "McDonalds",
    "Mini",
    "Nbc",
    "Nike",
    "Porsche",
    "Puma",
    "RedBull",
    "Starbucks",
    "Vodafone",
]


def _png(path: Path, color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (32, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format="PNG")
    return path


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    """A catalog dir with two valid marks, marks/a.png and marks/b.png, and no catalog.yaml yet."""
    root = tmp_path / "cat"
    _png(root / "marks" / "a.png")
    _png(root / "marks" / "b.png", color=(10, 10, 200))
    (root / "marks" / "text.png").write_text("not an image at all", encoding="utf-8")
    _png(tmp_path / "outside.png")
    return root


GOOD = "version: 1\nbrands:\n  - name: Nike\n    aliases: [NIKE, Nike Inc]\n    marks: [marks/a.png]\n"

# (case id, catalog.yaml text, fragment the CatalogError message must contain)
INVALID = [
    ("bad-yaml", "version: 1\nbrands: [name: Nike\n", "not valid YAML"),
    ("empty-file", "", "got an empty file"),
    ("not-a-mapping", "- name: Nike\n", "expected a mapping with 'version: 1'"),
    ("no-version", "brands: []\n", "missing 'version: 1'"),
    ("wrong-version", "version: 2\nbrands: []\n", "version 2 is not supported"),
    ("version-string", "version: '1'\nbrands: []\n", "version '1' is not supported"),
    ("unknown-top-key", "version: 1\nbrand: []\n", "unknown top-level key(s) ['brand']"),
    ("brands-not-list", "version: 1\nbrands: {name: Nike}\n", "'brands' must be a list"),
    ("brand-not-mapping", "version: 1\nbrands: [Nike]\n", "brands[0] must be a mapping"),
    ("missing-name", "version: 1\nbrands:\n  - aliases: [X]\n", "brands[0] has no 'name'"),
    ("name-not-string", "version: 1\nbrands:\n  - name: 3\n", "brands[0]: 'name' must be a non-empty string"),
    ("name-empty", "version: 1\nbrands:\n  - name: ' '\n", "'name' must be a non-empty string"),
    (
        "unknown-brand-key",
        "version: 1\nbrands:\n  - name: Nike\n    alias: [NIKE]\n",
        "brand 'Nike': unknown key(s) ['alias']",
    ),
    (
        "duplicate-name",
        "version: 1\nbrands:\n  - name: Nike\n  - name: nike\n",
        "brand 'nike' appears twice (brands[0] and brands[1])",
    ),
    (
        "alias-is-other-name",
        "version: 1\nbrands:\n  - name: Nike\n  - name: Adidas\n    aliases: [NIKE]\n",
        "brand 'Adidas': 'NIKE' is already a name or alias of brand 'Nike'",
    ),
    (
        "alias-is-other-alias",
        "version: 1\nbrands:\n  - name: Nike\n    aliases: [Swoosh]\n  - name: Adidas\n    aliases: [swoosh]\n",
        "brand 'Adidas': 'swoosh' is already a name or alias of brand 'Nike'",
    ),
    (
        "aliases-a-string",
        "version: 1\nbrands:\n  - name: Nike\n    aliases: NIKE\n",
        "brand 'Nike': 'aliases' must be a list of strings, got the string 'NIKE'",
    ),
    (
        "alias-not-string",
        "version: 1\nbrands:\n  - name: Nike\n    aliases: [1]\n",
        "brand 'Nike': aliases[0] must be a non-empty string, got 1",
    ),
    (
        "sellers-a-mapping",
        "version: 1\nbrands:\n  - name: Nike\n    authorized_sellers: {a: 1}\n",
        "brand 'Nike': 'authorized_sellers' must be a list of strings, got dict",
    ),
    (
        "mark-missing",
        "version: 1\nbrands:\n  - name: Nike\n    marks: [marks/x.png]\n",
        "brand 'Nike': marks[0] 'marks/x.png' does not exist",
    ),
    ("mark-is-dir", "version: 1\nbrands:\n  - name: Nike\n    marks: [marks]\n", "does not exist (it is a directory)"),
    (
        "mark-not-image",
        "version: 1\nbrands:\n  - name: Nike\n    marks: [marks/a.png, marks/text.png]\n",
        "brand 'Nike': marks[1] 'marks/text.png' is not a readable image",
    ),
    (
        "mark-escapes-dir",
        "version: 1\nbrands:\n  - name: Nike\n    marks: [../outside.png]\n",
        "brand 'Nike': marks[0] '../outside.png' is outside the catalog directory",
    ),
    (
        "mark-absolute",
        "version: 1\nbrands:\n  - name: Nike\n    marks: [/etc/hostname]\n",
        "must be a path relative to catalog.yaml",
    ),
    (
        "mark-shared",
        "version: 1\nbrands:\n  - name: Nike\n    marks: [marks/a.png]\n  - name: Adidas\n    marks: [./marks/a.png]\n",
        "brand 'Adidas': marks[0] './marks/a.png' is already a mark of brand 'Nike'",
    ),
    ("price-negative", "version: 1\nbrands:\n  - name: Nike\n    min_price: -5\n", "min_price must be a positive number"),
    ("price-text", "version: 1\nbrands:\n  - name: Nike\n    min_price: cheap\n", "min_price must be a positive number"),
    (
        "price-keyword",
        "version: 1\nbrands:\n  - name: Nike\n    min_price: {air max: true}\n",
        "min_price['air max'] must be a positive number",
    ),
    (
        "mark-twice",
        "version: 1\nbrands:\n  - name: Nike\n    marks: [marks/a.png, marks/a.png]\n",
        "marks[1] 'marks/a.png' is already a mark of brand 'Nike'",
    ),
]


@pytest.mark.parametrize("text, fragment", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_catalog_is_refused_with_a_message_naming_the_problem(
    catalog_dir: Path, text: str, fragment: str
) -> None:
    (catalog_dir / "catalog.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(catalog_dir)
    message = str(info.value)
    assert fragment in message
    assert message.startswith(str(catalog_dir / "catalog.yaml"))  # says which file


def test_valid_catalog_loads_from_dir_or_yaml_path(catalog_dir: Path) -> None:
    (catalog_dir / "catalog.yaml").write_text(GOOD, encoding="utf-8")
    for path in (catalog_dir, catalog_dir / "catalog.yaml", str(catalog_dir)):
        cat = load_catalog(path)
        assert cat.names == ("Nike",)
        assert cat.root == catalog_dir.resolve()
    nike = cat.brand("nike inc")
    assert nike == Brand("Nike", aliases=("NIKE", "Nike Inc"), marks=("marks/a.png",))
    assert nike.all_names == ("Nike", "NIKE", "Nike Inc")
    assert cat.mark_path("marks/a.png") == catalog_dir.resolve() / "marks" / "a.png"
    assert "NIKE" in cat and "Adibas" not in cat
    assert list(cat.iter_marks()) == [(nike, "marks/a.png")]


def test_unknown_brand_and_mark_errors_name_them(catalog_dir: Path) -> None:
    (catalog_dir / "catalog.yaml").write_text(GOOD, encoding="utf-8")
    cat = load_catalog(catalog_dir)
    with pytest.raises(CatalogError, match="brand 'Adibas' is not in the catalog"):
        cat.brand("Adibas")
    assert cat.find("Adibas") is None
    with pytest.raises(CatalogError, match="mark 'marks/b.png' is not a mark of any brand"):
        cat.mark_path("marks/b.png")


def test_missing_catalog_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no catalog at .*init_catalog"):
        load_catalog(tmp_path / "nowhere")


def test_catalog_error_is_a_detector_error() -> None:
    assert issubclass(CatalogError, DetectorError)


def test_catalog_constructed_directly_rejects_collisions(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="brand 'Pepsi': 'coke' is already a name or alias of brand 'Coca-Cola'"):
        Catalog(tmp_path, (Brand("Coca-Cola", aliases=("Coke",)), Brand("Pepsi", aliases=("coke",))))


# --- the bundled demo catalog ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> Catalog:
    return load_catalog()


def test_bundled_catalog_is_the_default_and_large_enough(bundled: Catalog) -> None:
    assert bundled.root == default_catalog_path().resolve()
    assert default_catalog_path().is_relative_to(Path(__file__).resolve().parents[2] / "detector")
    with_marks = [b for b in bundled.brands if b.marks]
    assert len(with_marks) >= 100
    for name in ("Nike", "Adidas", "Puma", "Coca-Cola", "McDonald's", "Red Bull", "PlayStation", "Louis Vuitton"):
        assert bundled.brand(name).name == name


def test_bundled_catalog_has_every_flickrlogos_brand_with_a_mark(bundled: Catalog) -> None:
    for name in FLICKRLOGOS_WITH_MARK:
        assert bundled.brand(name).marks, name


def test_bundled_marks_all_load_as_rgba_pngs(bundled: Catalog) -> None:
    marks = list(bundled.iter_marks())
    assert len(marks) >= 100
    for brand, mark in marks:
        assert mark.startswith("marks/") and mark.endswith(".png"), (brand.name, mark)
        with Image.open(bundled.mark_path(mark)) as im:
            im.load()
            assert im.mode == "RGBA" and max(im.size) == 256, (brand.name, mark, im.mode, im.size)
    # No stray files: every PNG in marks/ is referenced.
    on_disk = {p.name for p in (bundled.root / "marks").iterdir()}
    assert on_disk == {Path(m).name for _, m in marks}


def test_bundled_aliases_are_spellings_not_lookalikes(bundled: Catalog) -> None:
    # Common genuine spellings resolve; look-alike misspellings must not (the rules layer flags them).
    for spelling, name in [
        ("Coke", "Coca-Cola"),
        ("coca cola", "Coca-Cola"),
        ("McDonalds", "McDonald's"),
        ("RedBull", "Red Bull"),
        ("VW", "Volkswagen"),
        ("Citroën", "Citroen"),
    ]:
        assert bundled.brand(spelling).name == name
    for fake in ("Adibas", "NlKE", "Louis Button", "Rollex", "Guci"):
        assert bundled.find(fake) is None, fake


# --- content hash ----------------------------------------------------------------------------------


def test_content_hash_is_stable_and_ignores_formatting(catalog_dir: Path) -> None:
    (catalog_dir / "catalog.yaml").write_text(GOOD, encoding="utf-8")
    h = load_catalog(catalog_dir).content_hash()
    assert len(h) == 64 and h == load_catalog(catalog_dir).content_hash()
    reformatted = (
        "# a comment\nversion: 1\nbrands:\n- name: Nike\n  aliases:\n  - NIKE\n  - Nike Inc\n"
        "  marks:\n  - marks/a.png\n"
    )
    (catalog_dir / "catalog.yaml").write_text(reformatted, encoding="utf-8")
    assert load_catalog(catalog_dir).content_hash() == h


def test_content_hash_changes_with_mark_bytes_and_content(catalog_dir: Path) -> None:
    (catalog_dir / "catalog.yaml").write_text(GOOD, encoding="utf-8")
    cat = load_catalog(catalog_dir)
    before = cat.content_hash()
    _png(catalog_dir / "marks" / "a.png", color=(200, 30, 31))  # one channel of every pixel, +1
    assert load_catalog(catalog_dir).content_hash() != before
    again = load_catalog(catalog_dir).content_hash()
    (catalog_dir / "catalog.yaml").write_text(GOOD.replace("Nike Inc", "Nike, Inc."), encoding="utf-8")
    assert load_catalog(catalog_dir).content_hash() != again


def test_bundled_content_hash_is_deterministic(bundled: Catalog) -> None:
    assert bundled.content_hash() == load_catalog().content_hash()


# --- enrolment -------------------------------------------------------------------------------------


def test_init_add_remove_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    cat = init_catalog(root)
    assert len(cat) == 0 and (root / "marks").is_dir()
    with pytest.raises(CatalogError, match="already exists"):
        init_catalog(root)

    swoosh = _png(tmp_path / "src" / "Swoosh Logo.PNG")
    cat = add_brand(root, "Nike", marks=[swoosh], aliases=["Nike Inc"], authorized_sellers=["nike-official"])
    nike = cat.brand("nike")
    assert nike.marks == ("marks/nike-swoosh-logo.png",) and nike.aliases == ("Nike Inc",)
    assert nike.authorized_sellers == ("nike-official",)
    assert (root / "marks" / "nike-swoosh-logo.png").read_bytes() == swoosh.read_bytes()

    # Same name (any case, or an alias) adds to the brand; new aliases/sellers are appended once.
    jpeg = tmp_path / "src" / "nike"
    Image.new("RGB", (20, 20), (0, 0, 0)).save(jpeg, format="JPEG")
    cat = add_brand(root, "NIKE INC", marks=[jpeg], aliases=["Nike Inc", "NIKE"], authorized_sellers=["shop-2"])
    assert cat.names == ("Nike",)
    assert cat.brand("Nike").marks == ("marks/nike-swoosh-logo.png", "marks/nike.jpg")
    assert cat.brand("Nike").aliases == ("Nike Inc", "NIKE")
    assert cat.brand("Nike").authorized_sellers == ("nike-official", "shop-2")

    cat = add_brand(root, "McDonald's", marks=[_png(tmp_path / "src" / "arches.png", color=(250, 200, 0))])
    assert cat.brand("McDonald's").marks == ("marks/mcdonalds-arches.png",)
    assert load_catalog(root) == cat  # what was written reads back the same

    cat = remove_brand(root, "nike")
    assert cat.names == ("McDonald's",)
    assert not (root / "marks" / "nike.jpg").exists() and (root / "marks" / "mcdonalds-arches.png").exists()
    with pytest.raises(CatalogError, match="brand 'Nike' is not in the catalog"):
        remove_brand(root, "Nike")


def test_add_brand_refuses_bad_input_and_leaves_catalog_unchanged(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    init_catalog(root)
    add_brand(root, "Nike", marks=[_png(tmp_path / "swoosh.png")])
    before = (root / "catalog.yaml").read_bytes()
    marks_before = sorted(os.listdir(root / "marks"))
    not_image = tmp_path / "fake.png"
    not_image.write_text("hello", encoding="utf-8")
    cases = [
        ({"name": "Adidas", "marks": [tmp_path / "missing.png"]}, "does not exist"),
        ({"name": "Adidas", "marks": [not_image]}, "is not a readable image"),
        ({"name": "Adidas", "marks": [tmp_path / "swoosh.png"]}, "already enrolled as 'marks/nike-swoosh.png'"),
        ({"name": "Adidas", "aliases": ["nike"]}, "'nike' is already a name or alias of brand 'Nike'"),
        ({"name": "Adidas", "aliases": "adi"}, "must be a list of strings"),
        ({"name": ""}, "brand name must be a non-empty string"),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(CatalogError) as info:
            add_brand(root, **kwargs)  # type: ignore[arg-type]
        assert fragment in str(info.value), (kwargs, str(info.value))
        assert (root / "catalog.yaml").read_bytes() == before
        assert sorted(os.listdir(root / "marks")) == marks_before


def test_interrupted_write_keeps_old_catalog_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "mine"
    init_catalog(root)
    add_brand(root, "Nike", marks=[_png(tmp_path / "swoosh.png")])
    before = (root / "catalog.yaml").read_bytes()
    files_before = sorted(os.listdir(root))

    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(CatalogError, match="cannot write .*catalog.yaml.*No space left.*previous file is unchanged"):
        add_brand(root, "Adidas", marks=[_png(tmp_path / "stripes.png", color=(0, 0, 0))])
    with pytest.raises(CatalogError, match="cannot write"):
        remove_brand(root, "Nike")
    monkeypatch.undo()

    assert (root / "catalog.yaml").read_bytes() == before
    assert sorted(os.listdir(root)) == files_before  # no temp file left behind
    assert sorted(os.listdir(root / "marks")) == ["nike-swoosh.png"]  # the copied Adidas mark was removed
    assert load_catalog(root).names == ("Nike",)


def test_enrolment_works_on_a_copy_of_the_bundled_catalog(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    shutil.copytree(default_catalog_path(), root)
    n = len(load_catalog(root))
    cat = add_brand(root, "Adidas", marks=[_png(tmp_path / "trefoil.png")])
    assert len(cat) == n and cat.brand("Adidas").marks == ("marks/adidas.png", "marks/adidas-trefoil.png")
    assert cat.content_hash() != load_catalog().content_hash()


@pytest.mark.parametrize(
    "text, slug",
    [
        ("McDonald's", "mcdonalds"),
        ("H&M", "handm"),
        ("Citroën", "citroen"),
        ("Swoosh Logo", "swoosh-logo"),
        ("小米", ""),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


def test_non_ascii_brand_gets_a_stable_mark_name(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    init_catalog(root)
    cat = add_brand(root, "小米", marks=[_png(tmp_path / "mi.png")])
    (mark,) = cat.brand("小米").marks
    assert mark.startswith("marks/brand-") and mark.endswith("-mi.png")


def test_bundled_catalog_matches_its_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    import sys

    repo = Path(__file__).resolve().parents[2]
    source = repo.parent / "shared" / "data" / "logos"
    if not (source / "simple-icons" / "index.json").is_file():
        pytest.skip(f"logos source data not at {source}")
    spec = importlib.util.spec_from_file_location("build_demo_catalog", repo / "scripts" / "build_demo_catalog.py")
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, script)  # dataclasses look their module up there
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script prepends the repo root
    spec.loader.exec_module(script)
    assert script.main(["--source", str(source), "--output", str(default_catalog_path()), "--check"]) == 0


def test_min_price_per_brand_and_per_product_keyword(catalog_dir: Path) -> None:
    text = (
        "version: 1\nbrands:\n  - name: Nike\n    min_price: {default: 40, Air Max: 90}\n"
        "  - name: Rolex\n    min_price: 2000\n"
    )
    (catalog_dir / "catalog.yaml").write_text(text, encoding="utf-8")
    catalog = load_catalog(catalog_dir)
    assert catalog.brand("Nike").min_price == (("", 40.0), ("air max", 90.0))
    assert catalog.brand("Rolex").min_price == (("", 2000.0),)
    # Written back as it was given: a number, or a mapping with "default".
    assert catalog.brand("Rolex").to_dict()["min_price"] == 2000.0
    assert catalog.brand("Nike").to_dict()["min_price"] == {"default": 40.0, "air max": 90.0}
    add_brand(catalog_dir, "Nike", aliases=["NIKE Inc"])  # enrolment keeps the prices
    assert load_catalog(catalog_dir).brand("Nike").min_price == (("", 40.0), ("air max", 90.0))
