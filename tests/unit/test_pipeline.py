"""``Detector`` with injected fake stages: reports, coordinate mapping, and how failures surface."""

from __future__ import annotations

import logging

import pytest
from conftest import FakeLogos, FakeOcr, FakeRules
from PIL import Image, ImageDraw

from detector.config import Config, Limits, OcrConfig
from detector.errors import ConfigError, CorruptModel, InvalidImage, MissingModel
from detector.pipeline import Detector
from detector.stages import NoLogos, NoRules
from detector.types import Box, Decision, LogoMatch, TextSpan


def _detector(ocr=None, logos=None, rules=None, **config) -> Detector:  # type: ignore[no-untyped-def]
    return Detector(ocr=ocr or FakeOcr(), logos=logos or NoLogos(), rules=rules or NoRules(), config=Config(**config))


def test_ok_report_names_its_stages(images):
    ocr = FakeOcr([TextSpan("NIKE", 0.97, Box(1, 2, 20, 10))])
    report = _detector(ocr, FakeLogos(), FakeRules()).scan_image(images.jpeg((40, 30)), name="a.jpg")
    assert report.ok and report.error is None
    assert report.path == "a.jpg"
    assert report.stages == {"ocr": "fake-ocr", "logos": "fake-logos", "rules": "fake-rules"}
    assert report.decision is Decision.ALLOW and report.risk == 0.0
    assert [t.text for t in report.texts] == ["NIKE"]
    assert set(report.timings_ms) == {"load", "ocr", "logos", "rules"}
    assert all(v >= 0 for v in report.timings_ms.values())
    assert report.size == (40, 30) and report.sha256 is not None
    assert ocr.sizes == [(40, 30)]


def test_rules_see_the_texts_and_decide(images):
    ocr = FakeOcr([TextSpan("replica", 0.9), TextSpan("cotton", 0.9)])
    report = _detector(ocr, rules=FakeRules()).scan_image(images.jpeg(), name="r.jpg")
    assert report.decision is Decision.BLOCK and report.flagged
    assert [f.rule for f in report.flags] == ["fake_rule"]
    assert report.texts[0].brand == "FakeBrand" and report.texts[1].brand is None
    assert report.to_dict()["brands"][0]["name"] == "OtherBrand"  # sorted by confidence


def test_boxes_are_mapped_back_when_the_image_exceeded_max_side(images):
    # 400×200 with max_side 100: the stages see 100×50, a factor of 4 from the original.
    ocr = FakeOcr([TextSpan("NIKE", 0.9, Box(10, 5, 30, 15)), TextSpan("no box", 0.9)])
    logos = FakeLogos([LogoMatch("Nike", 0.8, Box(50, 10, 60, 20), "marks/nike.png")])
    detector = _detector(ocr, logos, limits=Limits(max_side=100))
    report = detector.scan_image(images.encode(images.halves((400, 200)), "PNG"), name="big.png")
    assert ocr.sizes == [(100, 50)]
    assert report.size == (400, 200)
    assert report.texts[0].box == Box(40, 20, 120, 60)
    assert report.texts[1].box is None
    assert report.logos[0].box == Box(200, 40, 240, 80)


def test_a_logo_stage_that_reads_text_gets_the_spans_in_its_own_coordinates(images):
    class TextLogos:
        name, reads_text = "text-logos", True

        def __init__(self) -> None:
            self.seen: list[list[TextSpan]] = []

        def load(self) -> None:
            pass

        def find(self, image, texts=()):  # type: ignore[no-untyped-def]
            self.seen.append(list(texts))
            return []

    ocr = FakeOcr([TextSpan("NIKE", 0.9, Box(10, 5, 30, 15))])
    logos = TextLogos()
    report = _detector(ocr, logos, limits=Limits(max_side=100)).scan_image(images.jpeg((400, 200)))
    assert logos.seen == [[TextSpan("NIKE", 0.9, Box(10, 5, 30, 15))]]  # the image the stage saw, not the original
    assert report.texts[0].box == Box(40, 20, 120, 60)
    plain = FakeLogos()  # a stage without ``reads_text`` is called as before, with the image only
    assert _detector(ocr, plain).scan_image(images.jpeg()).ok


def test_overlap_runs_the_logo_image_work_beside_the_ocr_and_decides_with_its_spans(images):
    import threading

    from detector.config import LogosConfig

    class ProposingLogos:
        name, reads_text = "proposing", True

        def __init__(self) -> None:
            self.threads: list[str] = []
            self.decided: list[list[str]] = []

        def load(self) -> None:
            pass

        def propose(self, image):  # type: ignore[no-untyped-def]
            self.threads.append(threading.current_thread().name)
            return {"Nike": image.size}

        def find_proposed(self, proposal, size, texts):  # type: ignore[no-untyped-def]
            self.decided.append([t.text for t in texts])
            return [LogoMatch("Nike", 0.9, Box(0, 0, *size), "m")] if any(t.text == "NIKE" for t in texts) else []

        def find(self, image, texts=()):  # type: ignore[no-untyped-def]
            return self.find_proposed(self.propose(image), image.size, texts)

    ocr = FakeOcr([TextSpan("NIKE", 0.9, Box(1, 1, 5, 5))])
    for overlap in (False, True):
        logos = ProposingLogos()
        det = Detector(ocr=ocr, logos=logos, rules=NoRules(), config=Config(logos=LogosConfig(overlap_ocr=overlap)))
        report = det.scan_image(images.jpeg((40, 30)))
        assert [m.brand for m in report.logos] == ["Nike"] and logos.decided == [["NIKE"]]
        assert logos.threads[0].startswith("detector-logos") == overlap
        assert {"ocr", "logos"} <= set(report.timings_ms)
    plain = FakeLogos([LogoMatch("Puma", 0.8, Box(1, 1, 9, 9), "m")])  # no reads_text: find runs whole beside OCR
    on = Config(logos=LogosConfig(overlap_ocr=True))
    report = Detector(ocr=ocr, logos=plain, rules=NoRules(), config=on).scan_image(images.jpeg((40, 30)))
    assert [m.brand for m in report.logos] == ["Puma"]
    failing = FakeOcr(raise_on={1: RuntimeError("ocr crashed")})
    report = Detector(ocr=failing, logos=ProposingLogos(), rules=NoRules(), config=on).scan_image(images.jpeg())
    assert not report.ok and "ocr crashed" in (report.error or "")


def test_boxes_untouched_when_not_downscaled(images):
    box = Box(3.5, 4.5, 10.25, 12.75)
    report = _detector(FakeOcr([TextSpan("x", 0.5, box)])).scan_image(images.jpeg((50, 40)))
    assert report.texts[0].box == box


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda im: b"", "empty"),
        (lambda im: im.text(), "looks like text"),
        (lambda im: im.truncated_jpeg(), "truncated"),
        (lambda im: im.png_header(100_000, 100_000), "pixels"),
    ],
    ids=["zero-bytes", "text", "truncated", "bomb"],
)
def test_bad_image_gives_failed_report_without_raising(images, make, fragment):
    ocr = FakeOcr()
    report = _detector(ocr).scan_image(make(images), name="bad.jpg")
    assert not report.ok and fragment in report.error
    assert report.path == "bad.jpg"
    assert report.decision is None and report.texts == ()
    assert "load" in report.timings_ms
    assert ocr.calls == 0  # no stage ran


def test_missing_file_gives_failed_report(tmp_path):
    report = _detector().scan_image(tmp_path / "gone.jpg")
    assert not report.ok and "no such file" in report.error
    assert report.path == str(tmp_path / "gone.jpg")


def test_exception_inside_a_stage_is_an_internal_error(images, caplog):
    ocr = FakeOcr(raise_on={1: ZeroDivisionError("division by zero")})
    with caplog.at_level(logging.ERROR, logger="detector.pipeline"):
        report = _detector(ocr).scan_image(images.jpeg(), name="x.jpg")
    assert not report.ok
    assert report.error == "internal error: ZeroDivisionError: division by zero"
    assert "load" in report.timings_ms
    assert any("x.jpg" in r.getMessage() for r in caplog.records)  # logged with the traceback for the operator


def test_exception_in_rules_stage_is_an_internal_error(images):
    class BrokenRules(FakeRules):
        def evaluate(self, texts, logos, listing=None, *, listing_text=False):  # type: ignore[no-untyped-def]
            raise KeyError("brand")

    report = _detector(rules=BrokenRules()).scan_image(images.jpeg())
    assert not report.ok and report.error.startswith("internal error: KeyError")


def test_detector_error_inside_a_stage_keeps_its_message(images):
    ocr = FakeOcr(raise_on={1: InvalidImage("x.jpg: the OCR could not use this image")})
    report = _detector(ocr).scan_image(images.jpeg(), name="x.jpg")
    assert not report.ok and report.error == "x.jpg: the OCR could not use this image"


@pytest.mark.parametrize("error", [MissingModel("pip install x"), CorruptModel("bad md5")], ids=["missing", "corrupt"])
def test_model_error_propagates(images, error):
    detector = _detector(FakeOcr(raise_on={1: error}))
    with pytest.raises(type(error)):
        detector.scan_image(images.jpeg())


def test_keyboard_interrupt_propagates(images):
    detector = _detector(FakeOcr(raise_on={1: KeyboardInterrupt()}))
    with pytest.raises(KeyboardInterrupt):
        detector.scan_image(images.jpeg())


def test_scan_paths_keeps_going_after_a_bad_file(tmp_path, images):
    good = images.write(tmp_path / "a.jpg", images.jpeg())
    bad = images.write(tmp_path / "b.jpg", images.text())
    also_good = images.write(tmp_path / "c.png", images.png())
    reports = list(_detector().scan_paths([good, bad, also_good]))
    assert [r.path for r in reports] == [str(good), str(bad), str(also_good)]
    assert [r.ok for r in reports] == [True, False, True]


def test_scan_pil_image_and_bytes_labels(images):
    detector = _detector()
    assert detector.scan_image(images.rgb()).path == "<image>"
    assert detector.scan_image(images.jpeg()).path == "<image>"
    assert detector.scan_image(images.jpeg(), name="upload-1").path == "upload-1"


def test_default_ocr_comes_from_config():
    detector = Detector(logos=NoLogos(), rules=NoRules(), config=Config(ocr=OcrConfig(backend="none")))
    assert detector.stages == {"ocr": "none", "logos": "none", "rules": "none"}


def test_unknown_ocr_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown OCR backend 'tesseract'"):
        Detector(logos=NoLogos(), rules=NoRules(), config=Config(ocr=OcrConfig(backend="tesseract")))


def test_warm_up_loads_every_stage():
    class LoadingOcr(FakeOcr):
        loaded = 0

        def load(self) -> None:
            self.loaded += 1

    ocr = LoadingOcr()
    _detector(ocr).warm_up()
    assert ocr.loaded == 1


def test_logo_backend_builds_the_named_stages_from_the_catalog(tmp_path, monkeypatch):
    from detector.config import LogosConfig
    from detector.enrol import add_brand, init_catalog

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mark = tmp_path / "bolt.png"
    im = Image.new("RGBA", (120, 120), (0, 0, 0, 0))
    ImageDraw.Draw(im).polygon([(66, 0), (24, 66), (54, 66), (36, 120), (96, 46), (66, 46), (90, 0)], fill=(0, 0, 0, 255))
    im.save(mark)
    init_catalog(tmp_path / "cat")
    add_brand(tmp_path / "cat", "Bolt", marks=[str(mark)])
    det = Detector(ocr=FakeOcr(), rules=NoRules(), catalog=str(tmp_path / "cat"),
                   config=Config(logos=LogosConfig(backend="keypoints+shape", keypoints_min_inliers=9, shape_threshold=0.9)))
    assert det.stages["logos"] == "logos.keypoints.v1+logos.shape.v1"
    assert (det.logos.stages[0].min_inliers, det.logos.stages[1].threshold) == (9, 0.9)
    assert det.catalog.names == ("Bolt",)  # the detector owns the catalog; the stages were built from it
    assert {r.brand for r in det.logos.stages[0].matcher._refs} == {"Bolt"}
    assert set(det.logos.stages[1].refs.brands) == {"Bolt"}
    none = Detector(ocr=FakeOcr(), rules=NoRules(), config=Config(logos=LogosConfig(backend="none")))
    assert none.stages["logos"] == "none"


def test_every_stage_follows_its_protocol_load_included():
    from detector.logos import AnyLogos
    from detector.stages import LogoStage, NoOcr, OcrBackend, RulesStage

    assert isinstance(NoOcr(), OcrBackend) and isinstance(NoLogos(), LogoStage) and isinstance(NoRules(), RulesStage)

    class NoLoad:  # a logo stage written before load() joined the protocol
        name = "old"

        def find(self, image):  # type: ignore[no-untyped-def]
            return []

    assert not isinstance(NoLoad(), LogoStage)
    loaded: list[str] = []

    class Counting(FakeLogos):
        def load(self) -> None:
            loaded.append(self.name)

    _detector(logos=AnyLogos([Counting(), Counting()])).warm_up()
    assert loaded == ["fake-logos", "fake-logos"]


def test_the_detector_owns_the_catalog_it_builds_stages_from(monkeypatch):
    from detector import catalog as catalog_mod

    loads: list[bool] = []
    real = catalog_mod.load_catalog

    def counting(path=None, *, check_images=True):  # type: ignore[no-untyped-def]
        loads.append(check_images)
        return real(path, check_images=check_images)

    monkeypatch.setattr(catalog_mod, "load_catalog", counting)
    det = Detector(ocr=FakeOcr(), logos=NoLogos())  # the rules are built: one load, marks not opened
    assert loads == [False]
    assert det.catalog.names == real().names and loads == [False]  # that same load, kept
    assert det.catalog_hash == det.catalog.content_hash() and loads == [False]

    given = real()
    det = Detector(ocr=FakeOcr(), logos=NoLogos(), catalog=given)  # a loaded catalog is used as it is
    assert det.catalog is given and det.catalog_path == given.root and loads == [False]


def test_injected_stages_load_no_catalog_until_asked(monkeypatch):
    from detector import catalog as catalog_mod

    loads: list[bool] = []
    real = catalog_mod.load_catalog
    monkeypatch.setattr(catalog_mod, "load_catalog", lambda path=None, *, check_images=True: (
        loads.append(check_images), real(path, check_images=check_images))[1])
    det = _detector(FakeOcr(), FakeLogos(), FakeRules())
    assert loads == []
    assert det.catalog.names == real().names and loads == [False]  # the bundled demo catalog, on first use
    assert det.catalog is det.catalog and loads == [False]  # once


def test_fused_backend_builds_the_three_stages_with_the_shipped_model(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from detector.config import LogosConfig
    from detector.enrol import add_brand, init_catalog
    from detector.logos.fusion import FusedLogos, FusionModel

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mark = tmp_path / "ring.png"
    im = Image.new("RGBA", (120, 120), (0, 0, 0, 0))
    ImageDraw.Draw(im).ellipse((10, 10, 110, 110), outline=(0, 0, 0, 255), width=14)
    im.save(mark)
    init_catalog(tmp_path / "cat")
    add_brand(tmp_path / "cat", "Ring", marks=[str(mark)])
    det = Detector(ocr=FakeOcr(), rules=NoRules(), catalog=str(tmp_path / "cat"), config=Config(logos=LogosConfig()))
    assert isinstance(det.logos, FusedLogos) and list(det.logos.stages) == ["keypoints", "shape", "cnn"]
    assert det.logos.threshold == FusionModel.load().threshold
    assert det.logos.own_points == dict(FusionModel.load().own_points)
    assert det.logos.names is not None and "ring" in det.logos.names.names["Ring"]  # OCR text can count
    assert det.stages["logos"].startswith("logos.fused.v1(logos.keypoints.v1+logos.shape.v1+logos.mobilenet_v2-logo-ft")
