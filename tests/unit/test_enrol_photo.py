"""Few-shot enrolment: a product photo's logo cropped and kept as a mark, with where it came from."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from detector.cli import EXIT_OK, main
from detector.enrol import add_brand, init_catalog
from detector.enrol_photo import add_photo_mark, parse_box, read_source
from detector.errors import CatalogError
from detector.types import Box, LogoMatch


def _photo(path: Path) -> Path:
    im = Image.new("RGB", (400, 300), (230, 230, 230))
    ImageDraw.Draw(im).ellipse((100, 80, 220, 200), fill=(10, 10, 10))
    im.save(path)
    return path


class FindsAt:
    """A logo stage that reports one brand at one box."""

    name = "fake-logos"

    def __init__(self, brand: str, box: Box) -> None:
        self.brand, self.box = brand, box

    def load(self) -> None: ...

    def find(self, image: Image.Image) -> list[LogoMatch]:
        return [LogoMatch(self.brand, 0.9, self.box, "marks/x.png"), LogoMatch("Other", 0.95, Box(0, 0, 9, 9), "m")]


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    init_catalog(tmp_path / "cat")
    mark = tmp_path / "dot.png"
    Image.new("RGBA", (64, 64), (0, 0, 0, 255)).save(mark)
    add_brand(tmp_path / "cat", "Dotco", marks=[mark])
    return tmp_path / "cat"


def test_the_found_logo_is_cropped_with_a_margin_and_its_origin_recorded(catalog: Path, tmp_path: Path) -> None:
    photo = _photo(tmp_path / "shoe.jpg")
    cat, crop = add_photo_mark(catalog, "Dotco", photo, logos=FindsAt("Dotco", Box(100, 80, 220, 200)))
    assert crop.found_by == "fake-logos" and crop.box == (88, 68, 232, 212)  # 10 % margin each side
    assert crop.mark in cat.brand("Dotco").marks and len(cat.brand("Dotco").marks) == 2
    assert cat.mark_image(cat.brand("Dotco"), crop.mark).size == (144, 144)
    assert read_source(cat, crop.mark) == crop
    assert read_source(cat, cat.brand("Dotco").marks[0]) is None  # the clean mark has no photo origin


def test_a_given_box_skips_the_search_and_works_for_a_brand_with_no_mark(catalog: Path, tmp_path: Path) -> None:
    photo = _photo(tmp_path / "tag.png")
    add_brand(catalog, "Newco")
    cat, crop = add_photo_mark(catalog, "Newco", photo, box=(100, 80, 220, 200))
    assert crop.found_by == "--box" and cat.brand("Newco").marks == (crop.mark,)


def test_errors_say_what_to_do(catalog: Path, tmp_path: Path) -> None:
    photo = _photo(tmp_path / "p.png")
    add_brand(catalog, "Newco")
    with pytest.raises(CatalogError, match="--box"):
        add_photo_mark(catalog, "Newco", photo)  # nothing to search with
    with pytest.raises(CatalogError, match="no mark of 'Dotco' was found"):
        add_photo_mark(catalog, "Dotco", photo, logos=FindsAt("Someone", Box(1, 1, 50, 50)))
    with pytest.raises(CatalogError, match="outside the photo"):
        add_photo_mark(catalog, "Dotco", photo, box=(500, 500, 600, 600))
    with pytest.raises(CatalogError, match="photo"):
        add_photo_mark(catalog, "Dotco", tmp_path / "missing.jpg", box=(1, 1, 50, 50))
    for bad in ("1,2,3", "a,b,c,d", "10,10,5,20"):
        with pytest.raises(CatalogError, match="--box"):
            parse_box(bad)


def test_cli_enrols_a_photo_crop_and_lists_it(catalog: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    photo = _photo(tmp_path / "shoe.png")
    assert main(["catalog", "add", str(catalog), "Dotco", "--photo", str(photo), "--box", "100,80,220,200"]) == EXIT_OK
    assert "found by --box" in capsys.readouterr().err
    assert main(["catalog", "list", str(catalog), "--verbose"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "144x144 px  crop (88, 68, 232, 212) of" in out and "shoe.png" in out and "64x64 px" in out
    assert main(["catalog", "add", str(catalog), "Dotco", "--box", "1,2,3,4"]) != EXIT_OK
    assert "give the photo too" in capsys.readouterr().err
