"""``detector scan --engine ray --address``: the CLI joins a ``ray start --head`` cluster (loopback only).

A module of its own: the head is stopped at the end, and no other Ray runs in this process meanwhile.
Skipped when the ``ray`` extra is not installed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray", reason="the Ray engine needs the optional extra: pip install 'detector[ray]'")

REPO = Path(__file__).resolve().parents[2]
LIGHT = "ocr:\n  backend: none\nlogos:\n  backend: none\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def head() -> Any:
    import tempfile

    # Short: Ray's Unix sockets live under it and pytest's tmp_path can exceed their 107-byte limit.
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        ray_bin = Path(shutil.which("ray") or "ray")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "RAY_USAGE_STATS_ENABLED": "0",
           # Token authentication (Ray's default for `ray start`): the head and the CLI share a fresh token.
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    # --block: this process owns the cluster's processes and takes them down when it is terminated;
    # `ray stop` would stop every Ray on the machine.
    proc = subprocess.Popen(
        [str(ray_bin), "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("ray start --head did not listen within 120 s")
    yield address, env
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    shutil.rmtree(temp, ignore_errors=True)


def _records(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        rec.pop("timings_ms")
        out.append(rec)
    return out


def test_cli_joins_a_cluster_with_address_and_equals_the_plain_scan(head, tmp_path, images):
    address, env = head
    folder = tmp_path / "photos"
    folder.mkdir()
    for k in range(6):
        images.write(folder / f"{k}.png", images.png((30 + k, 20)))
    config = tmp_path / "light.yaml"
    config.write_text(LIGHT)
    base = [sys.executable, "-m", "detector.cli", "scan", str(folder), "--config", str(config), "--no-progress"]
    plain = subprocess.run([*base, "-o", str(tmp_path / "plain.jsonl")], env=env, capture_output=True, text=True, check=False)
    assert plain.returncode == 0, plain.stderr
    out = tmp_path / "ray.parquet"
    ray_run = subprocess.run(
        [*base, "-o", str(out), "--engine", "ray", "--address", address, "--actors", "2", "--format", "parquet"],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )
    assert ray_run.returncode == 0, ray_run.stderr[-3000:]
    assert "6 images" in ray_run.stderr
    import pyarrow.parquet as pq

    records = [json.loads(r) for r in pq.read_table(out).column("record").to_pylist()]
    for r in records:
        r.pop("timings_ms")
    assert records == _records(tmp_path / "plain.jsonl")
