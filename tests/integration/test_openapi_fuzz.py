"""Probe: schemathesis against the live service's OpenAPI, every check, on loopback (fake OCR, fast).

The schemathesis command line runs against a live server: examples, coverage and fuzzing phases,
valid and invalid requests to every operation, all checks (``--checks all``; the expected statuses
in ``schemathesis.toml`` beside this file say why a 413 is a right answer). Every answer must have a
documented status and a body matching its schema (the 200 decision included), and no request may get
a 5xx. ``openapi_hooks.py`` makes the image parts of valid cases real images. The counts are printed
(``pytest -s``); ``benchmarks/openapi_fuzz.py`` runs the same against ``detector serve``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("schemathesis")
pytest.importorskip("uvicorn")
from test_service import LiveServer, check_files, jpeg, serve_small

from detector.service import CHECK_PATH

HERE = Path(__file__).resolve().parent
#: Examples per operation and phase: ~400 generated test cases (one request each), ~25 s on 2 shared cores.
EXAMPLES = 300
SEED = 1


def schemathesis_command(url: str, report: Path, examples: int = EXAMPLES, seed: int = SEED) -> list[str]:
    """The schemathesis run the probe makes (the benchmark makes the same with more examples)."""
    return [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(HERE / "schemathesis.toml"),
        "run", url + "/openapi.json", "--checks", "all", "--max-examples", str(examples), "--seed", str(seed),
        "--generation-database", "none", "--no-color", "--report", "json", "--report-json-path", str(report),
    ]


def schemathesis_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "SCHEMATHESIS_HOOKS": "openapi_hooks", "PYTHONPATH": path}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Small limits, so generated bodies reach the 413s of the schema.
    server = serve_small(tmp_path_factory.mktemp("openapi"))
    yield server
    server.stop()


def test_every_answer_matches_the_openapi_schema_and_none_is_a_5xx(live: LiveServer, tmp_path: Path) -> None:
    report = tmp_path / "schemathesis.json"
    before = live.server.server_state.total_requests
    proc = subprocess.run(
        schemathesis_command(live.url, report),
        check=False,
        cwd=tmp_path,  # schemathesis keeps a cache folder in its working directory
        env=schemathesis_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = json.loads(report.read_text()) if report.exists() else {}
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert summary["failures"] == [] and summary["errors"] == []
    assert summary["operations"]["tested"] == 4
    phases = {name: p["status"] for name, p in summary["phases"].items()}
    assert phases["coverage"] == phases["fuzzing"] == "success", phases
    requests = live.server.server_state.total_requests - before
    with live.client() as client:
        metrics = client.get("/metrics").text
        after = client.post(CHECK_PATH, files=check_files({"listing_id": "after"}, [("a.jpg", jpeg())]))
    statuses = {
        line.split('status="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("detector_http_responses_total{")
    }
    print(f"\nschemathesis: {summary['test_cases']['generated']} test cases, {requests} HTTP requests; "
          f"check endpoint answers by status: {statuses}")
    assert summary["test_cases"]["generated"] >= 300 and requests >= 300
    assert not any(s.startswith("5") for s in statuses), statuses
    assert "internal_error" not in metrics
    assert after.status_code == 200  # a good listing is still decided after the fuzz
    assert live.state.admitted == 0 and live.state.body_bytes == 0


def test_the_schema_documents_every_answer_of_the_check_endpoint(live: LiveServer) -> None:
    with live.client() as client:
        spec = client.get("/openapi.json").json()
    responses = spec["paths"][CHECK_PATH]["post"]["responses"]
    assert set(responses) == {"200", "400", "408", "413", "415", "422", "500", "503"}
    decision = responses["200"]["content"]["application/json"]["schema"]
    assert {"listing_id", "decision", "risk", "flags", "images", "audit_id"} <= set(decision["required"])
    for status, answer in responses.items():
        if status != "200":
            assert answer["content"]["application/json"]["schema"]["required"] == ["error", "detail"], status
    assert "service.max_images" in responses["413"]["description"]
    body = spec["paths"][CHECK_PATH]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert body["encoding"]["listing"]["contentType"] == "application/json"
    assert body["schema"]["properties"]["listing"]["required"] == ["listing_id"]
