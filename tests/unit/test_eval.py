"""``detector eval`` with fake stages: the labels file's errors, the figures, the calibration, the cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeOcr

from detector.cli import EXIT_OK, EXIT_USAGE, main
from detector.config import Config
from detector.errors import LabelsError
from detector.evaluate import LabelRow, calibrate, read_labels, wilson


class TokenRules:
    """Rules that obey the OCR's words: ``BRAND:Nike`` names Nike (0.8); ``BLOCK:0.9`` / ``REVIEW:0.5`` add a
    flag of that severity and set the risk."""

    name = "token-rules"

    def load(self) -> None:
        pass

    def evaluate(self, texts: Any, logos: Any, listing: Any = None, **_: Any) -> Any:
        from detector.config import Thresholds
        from detector.rules.scoring import decide
        from detector.types import BrandSighting, Flag, Severity, Verdict

        brands, flags, risk = [], [], 0.0
        for t in texts:
            kind, _, value = t.text.partition(":")
            if kind == "BRAND":
                brands.append(BrandSighting(value, 0.8, ("text",)))
            elif kind in ("BLOCK", "REVIEW"):
                flags.append(Flag("token", Severity(kind.lower()), t.text))
                risk = max(risk, float(value))
        return Verdict(texts=tuple(texts), flags=tuple(flags), brands=tuple(brands), risk=risk,
                       decision=decide(risk, flags, Thresholds()))


# name, label, brand, the words the fake OCR reads from it
PHOTOS = [
    ("c1", "counterfeit", "Nike", "BLOCK:0.95 BRAND:Nike"),
    ("c2", "counterfeit", "nike", "BLOCK:0.9 BRAND:Nike"),  # case-insensitive
    ("c3", "counterfeit", "Nike Inc", "BLOCK:0.7 BRAND:Nike"),  # an alias of Nike in the catalog
    ("c4", "counterfeit", "Nike", "REVIEW:0.5 BRAND:Adidas"),  # wrong brand
    ("g1", "genuine", "Nike", "BRAND:Nike"),
    ("g2", "genuine", "Adidas", "BRAND:Adidas"),
    ("g3", "genuine", "Adidas", ""),  # brand missed
    ("g4", "genuine", "Nike", "BLOCK:0.8 BRAND:Nike"),  # a genuine photo with a block flag
    ("n1", "none", "", ""),
    ("n2", "none", "", "BRAND:Adidas"),  # a brand named on a logo-free photo
]


def _dataset(tmp_path: Path, images: Any, fake_stages: Any) -> Path:
    words = {}
    for i, (name, _label, _brand, text) in enumerate(PHOTOS):
        width = 30 + i  # the fake OCR sees pixels, not paths: the width says which photo it is
        images.write(tmp_path / "photos" / f"{name}.png", images.png((width, 20), (i * 20, 100, 100)))
        words[width] = text.split()
    from detector.types import TextSpan

    fake_stages.ocr = FakeOcr(per_call=lambda n, image: [TextSpan(w, 0.9) for w in words[image.width]])
    fake_stages.rules = TokenRules()
    csv = tmp_path / "labels.csv"
    csv.write_text("path,brand,label\n" + "".join(f"photos/{n}.png,{b},{lab}\n" for n, lab, b, _ in PHOTOS))
    return csv


def test_eval_writes_the_figures_the_calibration_and_the_page(tmp_path, images, fake_stages, capsys) -> None:
    labels = _dataset(tmp_path, images, fake_stages)
    out = tmp_path / "out"
    assert main(["eval", str(labels), "--output", str(out), "--no-progress"]) == EXIT_OK
    stdout, stderr = capsys.readouterr()
    m = json.loads((out / "metrics.json").read_text())
    # Branded: c1-c4, g1-g4 (8); right: c1, c2, c3 (alias), g1, g2, g4.
    assert (m["brand_top1"]["k"], m["brand_top1"]["n"]) == (6, 8)
    assert (m["brand_fp_rate"]["k"], m["brand_fp_rate"]["n"]) == (1, 2)
    assert m["per_brand"]["Nike"]["recall"]["k"] == 5 and m["per_brand"]["Nike"]["n"] == 6
    assert m["per_brand"]["Adidas"]["named"] == 3 and m["per_brand"]["Adidas"]["precision"]["k"] == 1
    # Default thresholds (0.4 / 0.8): c1, c2 block; c3 (0.7) and c4 review; g4 (0.8) block.
    assert m["confusion"]["counterfeit"] == {"allow": 0, "review": 2, "block": 2, "error": 0}
    assert m["confusion"]["genuine"] == {"allow": 3, "review": 0, "block": 1, "error": 0}
    assert m["decision_levels"]["review"]["counterfeit_recall"]["k"] == 4
    assert m["decision_levels"]["block"]["genuine_false_flag_rate"]["k"] == 1
    # Blocking at 0.7 catches g4 too (3 of 4 right); at 0.9 only c1, c2: precision 1.0, the lowest reaching 0.95.
    assert m["calibration"]["reached"] and m["calibration"]["block"] == 0.9
    assert m["calibration"]["review"] == 0.5  # still reviews every counterfeit the rules flag
    assert any("only 4 counterfeit photos" in w for w in m["warnings"])
    assert "warning: only 4 counterfeit photos" in stderr
    assert "brand top-1 right" in stdout and "75.0%" in stdout
    cfg = Config.from_file(out / "calibrated.yaml")
    assert (cfg.thresholds.review, cfg.thresholds.block) == (0.5, 0.9)
    for png in ("pr_curve.png", "brand_sweep.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert page.count("<section class=\"image") == len(PHOTOS) and "<table class=\"index\"" in page


def test_second_eval_uses_the_cache_and_the_new_thresholds(tmp_path, images, fake_stages, capsys) -> None:
    labels = _dataset(tmp_path, images, fake_stages)
    out = tmp_path / "out"
    assert main(["eval", str(labels), "--output", str(out), "--no-progress"]) == EXIT_OK
    calls = fake_stages.ocr.calls
    assert calls == len(PHOTOS)
    strict = tmp_path / "strict.yaml"
    strict.write_text("thresholds:\n  review: 0.6\n  block: 0.96\n")
    assert main(["eval", str(labels), "--output", str(out), "--config", str(strict), "--no-progress",
                 "--target-precision", "0.7"]) == EXIT_OK
    assert fake_stages.ocr.calls == calls  # nothing rescanned
    assert "10 from the cache" in capsys.readouterr().err
    m = json.loads((out / "metrics.json").read_text())
    assert m["confusion"]["counterfeit"] == {"allow": 1, "review": 3, "block": 0, "error": 0}
    # 3 of 4 blocked are counterfeit (75 % >= 70 %) from 0.5 up: c4 at 0.5 has only a review flag, never blocked.
    assert m["calibration"]["block"] == 0.5
    # Another catalog (or other OCR settings) is another cache key: everything is scanned again.
    cfg = tmp_path / "ocr.yaml"
    cfg.write_text("ocr:\n  max_side: 640\n")
    assert main(["eval", str(labels), "--output", str(out), "--config", str(cfg), "--no-progress"]) == EXIT_OK
    assert fake_stages.ocr.calls == 2 * calls


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("path,label\na.png,none\n", "row 1 (the header) lacks column(s) brand"),
        ("path,brand,label\na.png,,fake\n", "row 2: label 'fake' is not one of genuine, counterfeit, none"),
        ("path,brand,label\na.png,,none\nmissing.png,,none\n", "row 3: no such file 'missing.png'"),
        ("path,brand,label\na.png,,none\n./a.png,Nike,genuine\n", "row 3: './a.png' is already labelled on row 2"),
        ("path,brand,label\na.png,Nike,none\n", "row 2: label 'none' means no brand is shown"),
        ("path,brand,label\n,,none\n", "row 2: the path is empty"),
        ("path,brand,label\n", "no labelled photos"),
    ],
)
def test_labels_errors_name_the_row(tmp_path, images, capsys, body, error) -> None:
    images.write(tmp_path / "a.png", images.png())
    labels = tmp_path / "labels.csv"
    labels.write_text(body)
    with pytest.raises(LabelsError, match=error.replace("(", r"\(").replace(")", r"\)")):
        read_labels(labels)
    assert main(["eval", str(labels), "--output", str(tmp_path / "out")]) == EXIT_USAGE
    assert error in capsys.readouterr().err
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_labels_are_trimmed_and_case_folded(tmp_path, images) -> None:
    images.write(tmp_path / "p" / "a.png", images.png())
    (tmp_path / "labels.csv").write_text("\ufeffpath,brand,label\n p/a.png , Nike , Counterfeit \n")
    (row,) = read_labels(tmp_path / "labels.csv")
    assert (row.path, row.brand, row.label, row.row) == ("p/a.png", "Nike", "counterfeit", 2)


def _rec(risk: float, severity: str | None) -> dict[str, Any]:
    flags = [{"rule": "r", "severity": severity, "message": ""}] if severity else []
    return {"ok": True, "risk": risk, "flags": flags, "brands": []}


def test_calibrate_keeps_the_thresholds_when_no_threshold_reaches_the_target() -> None:
    rows = [LabelRow(n, Path(n), None, lab, i) for i, (n, lab) in enumerate([("a", "genuine"), ("b", "counterfeit")])]
    records = {"a": _rec(0.9, "block"), "b": _rec(0.8, "block")}  # the genuine photo scores highest
    cal = calibrate(rows, records, target_precision=0.95)
    assert not cal["reached"] and (cal["review"], cal["block"]) == (0.4, 0.8) and "no risk threshold" in cal["why"]
    assert calibrate(rows, records, target_precision=0.5)["block"] == 0.8


def test_wilson_interval() -> None:
    lo, hi = wilson(644, 1000)
    assert 0.613 < lo < 0.615 and 0.673 < hi < 0.675  # the textbook values for 64.4 % of 1000
    assert wilson(0, 0) == (0.0, 1.0)


def test_eval_workers_2_scans_in_processes_and_fills_the_same_cache(fake_stages, monkeypatch, tmp_path, images,
                                                                    capsys) -> None:
    from functools import partial

    from test_parallel import FLAG_W, FakeFactory

    import detector.parallel

    # The workers build their detectors with test_parallel's fakes: REPLICA (blocked) on FLAG_W-wide photos.
    monkeypatch.setattr(detector.parallel, "DetectorFactory", partial(FakeFactory))
    widths = {"a": 30, "b": FLAG_W, "c": 31, "d": 32}
    for name, w in widths.items():
        images.write(tmp_path / f"{name}.png", images.png((w, 20)))
    labels = tmp_path / "labels.csv"
    labels.write_text("path,brand,label\n" + "".join(
        f"{n}.png,,{'counterfeit' if w == FLAG_W else 'genuine'}\n" for n, w in widths.items()))
    out = tmp_path / "out"
    assert main(["eval", str(labels), "--output", str(out), "--workers", "2", "--no-progress"]) == EXIT_OK
    m = json.loads((out / "metrics.json").read_text())
    assert m["confusion"]["counterfeit"]["block"] == 1 and m["confusion"]["genuine"]["allow"] == 3
    assert len((out / "scans.jsonl").read_text().splitlines()) == 4
    assert main(["eval", str(labels), "--output", str(out), "--no-progress"]) == EXIT_OK
    assert fake_stages.ocr.calls == 0  # the in-process rerun found every record in the workers' cache
    assert "4 from the cache" in capsys.readouterr().err


def test_a_labelled_brand_missing_from_the_catalog_is_warned_about() -> None:
    from detector.catalog import load_catalog
    from detector.evaluate import evaluate

    rows = [LabelRow("a", Path("a"), "Acme Widgets", "genuine", 2), LabelRow("b", Path("b"), "nike inc", "genuine", 3)]
    records = {"a": _rec(0.0, None), "b": {**_rec(0.0, None), "brands": [{"name": "Nike", "confidence": 0.9}]}}
    m = evaluate(rows, records, catalog=load_catalog(check_images=False))
    assert m["brands_not_in_catalog"] == ["Acme Widgets"] and any("Acme Widgets" in w for w in m["warnings"])
    assert (m["brand_top1"]["k"], m["brand_top1"]["n"]) == (1, 2)  # "nike inc" is an alias of Nike
