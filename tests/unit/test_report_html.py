"""The HTML page of a scan: valid, self-contained, escaped, one section per image, summary counts."""

from __future__ import annotations

import base64
import io
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

from conftest import FakeOcr, flagged_report
from PIL import Image

from detector.cli import EXIT_FLAGGED, main
from detector.report import OutputFormat, ReportSink
from detector.report_html import image_section, page_head, page_tail
from detector.types import Decision, ImageReport, TextSpan

HOSTILE = "<script>alert('x')</script>"


class _Page(HTMLParser):
    """Collects tags, text and images, and fails on unbalanced section/div tags."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []
        self.images: list[str] = []
        self.scripts = 0
        self.sections: list[str] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        a = dict(attrs)
        if tag in ("section", "div", "ul", "p"):
            self.stack.append(tag)
        if tag == "section":
            self.sections.append(a.get("class") or "")
        if tag == "img":
            self.images.append(a["src"])
        if tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag in ("section", "div", "ul", "p"):
            assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        self.text.append(data)


def _parse(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    p.close()
    assert p.stack == []
    return p


def test_section_escapes_seller_text_and_embeds_the_annotated_photo(tmp_path: Path) -> None:
    src = tmp_path / "photo.png"
    Image.new("RGB", (200, 160), (255, 255, 255)).save(src)
    page = _parse(page_head() + image_section(flagged_report(str(src), HOSTILE)) + page_tail(Counter(block=1), 0))
    assert page.scripts == 0  # the hostile OCR text stayed text
    assert HOSTILE in "".join(page.text)
    assert page.sections == ["image block"]
    [src_attr] = page.images
    assert src_attr.startswith("data:image/jpeg;base64,")
    photo = Image.open(io.BytesIO(base64.b64decode(src_attr.split(",", 1)[1])))
    assert photo.width == 200 and photo.height > 160  # the annotated photo, footer included
    assert photo.getpixel((10, 25)) != (255, 255, 255)  # the logo box is drawn
    text = " ".join("".join(page.text).split())
    assert "1 images: 1 block, 0 review, 0 allow, 0 unreadable." in text
    assert "evidence: text" in text and "marks/nike.png" in text


def test_missing_photo_and_unreadable_file_still_get_their_sections(tmp_path: Path) -> None:
    gone = image_section(flagged_report(str(tmp_path / "moved.jpg"), HOSTILE))
    assert "Photo not shown" in gone and "lookalike_brand_text" in gone
    broken = image_section(ImageReport.failed("bad.jpg", "not an image: looks like text"))
    page = _parse(page_head() + gone + broken + page_tail(Counter(block=1), 1))
    assert page.sections == ["image block", "image error"]
    assert page.images == []
    assert "not an image: looks like text" in "".join(page.text)


def test_sink_writes_a_whole_page_to_the_target_only_at_close(tmp_path: Path) -> None:
    target = tmp_path / "scan.html"
    target.write_text("OLD")
    sink = ReportSink(OutputFormat.HTML, target)
    sink.write(ImageReport(path="a.jpg", ok=True, decision=Decision.ALLOW, risk=0.0))
    assert target.read_text() == "OLD"
    sink.close()
    page = _parse(target.read_text())
    assert page.sections == ["image allow"]
    assert "1 images: 0 block, 0 review, 1 allow" in " ".join("".join(page.text).split())


def test_scan_format_html(fake_stages, tmp_path, images, capsys) -> None:
    root = tmp_path / "photos"
    images.write(root / "a.jpg", images.jpeg((40, 30)))
    images.write(root / "b.png", images.png((30, 20), (0, 0, 255)))
    images.write(root / "broken.jpg", images.text())
    fake_stages.ocr = FakeOcr(per_call=lambda n, image: [TextSpan("REPLICA" if n == 1 else "cotton", 0.9)])
    out = tmp_path / "scan.html"
    code = main(["scan", "--no-progress", str(root), "--format", "html", "--output", str(out)])
    capsys.readouterr()
    assert code == EXIT_FLAGGED
    page = _parse(out.read_text())
    assert sorted(page.sections) == ["image allow", "image block", "image error"]
    assert len(page.images) == 2  # the two readable photos, inline
    assert re.search(r"3 images: 1 block, 0 review, 1 allow, 1 unreadable", " ".join("".join(page.text).split()))


def test_allowed_photos_are_small_thumbnails_flagged_ones_readable(tmp_path: Path) -> None:
    src = tmp_path / "big.png"
    Image.new("RGB", (1200, 900), (255, 255, 255)).save(src)
    allowed = ImageReport(path=str(src), ok=True, decision=Decision.ALLOW, risk=0.0)

    def side(section: str) -> int:
        [data] = _parse(section).images
        return max(Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1]))).size)

    assert side(image_section(allowed)) == 160
    assert side(image_section(flagged_report(str(src)))) == 640


def test_scan_page_index_table_links_every_section_and_carries_sort_keys(fake_stages, tmp_path, images, capsys) -> None:
    root = tmp_path / "photos"
    images.write(root / "a.jpg", images.jpeg((40, 30)))
    images.write(root / "b.png", images.png((30, 20), (0, 0, 255)))
    fake_stages.ocr = FakeOcr(per_call=lambda n, image: [TextSpan("REPLICA" if n == 1 else "cotton", 0.9)])
    out = tmp_path / "scan.html"
    main(["scan", "--no-progress", str(root), "--format", "html", "--output", str(out)])
    capsys.readouterr()
    html = out.read_text()
    anchors = re.findall(r'<section class="image \w+" id="(img-\d+)">', html)
    assert anchors == ["img-0", "img-1"]
    assert re.findall(r'<tr class="(\w+)" data-href="#(img-\d+)">', html) == [("block", "img-0"), ("allow", "img-1")]
    assert '<td data-sort="0.9">0.90</td>' in html and html.count("<script>") == 1
