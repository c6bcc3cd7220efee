"""Shared by service_load.py and service_crash.py: a `detector serve` subprocess, photos, one client call."""

from __future__ import annotations

import glob
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CHECK = "/v1/listings/check"


def photos(pattern: str, side: int) -> list[tuple[str, bytes]]:
    """Each photo matching ``pattern`` resized so its longest side is ``side``, as JPEG (quality 90)."""
    out = []
    for path in sorted(glob.glob(str(REPO / pattern))):
        img = Image.open(path).convert("RGB")
        scale = side / max(img.size)
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        out.append((Path(path).name, buf.getvalue()))
    if not out:
        raise SystemExit(f"no photos match {pattern}")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(
    path: Path,
    *,
    ocr_backend: str | None = None,
    ocr: dict[str, Any] | None = None,
    sections: dict[str, Any] | None = None,
    **service: Any,
) -> Path:
    """A config file for the server (JSON is valid YAML): ``service`` limits, ``ocr`` settings, other sections."""
    ocr_section = {**({"backend": ocr_backend} if ocr_backend else {}), **(ocr or {})}  # None: the shipped backend
    data = {"ocr": ocr_section, "service": service, **(sections or {})}
    path.write_text(json.dumps(data, indent=2))
    return path


@dataclass
class Server:
    """``detector serve`` in a subprocess on a loopback port; its log goes to a file."""

    config: Path
    audit_db: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="detector-serve-", suffix=".log")[1]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout: float = 600) -> float:
        """Start and wait for /readyz; returns the seconds it took to be ready."""
        cmd = [
            sys.executable,
            "-m",
            "detector.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--audit-db",
            str(self.audit_db),
            "--config",
            str(self.config),
        ]
        log = self.log_path.open("ab")
        t = time.monotonic()
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = t + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}; log: {self.log_path}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - t
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise SystemExit(f"server not ready after {ready_timeout} s; log: {self.log_path}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def memory_kib(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak since start) of the server process, in KiB."""
        out = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
        return out

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def post_listing(client: httpx.Client, listing_id: str, photo: tuple[str, bytes], timeout: float) -> httpx.Response:
    files = [
        (
            "listing",
            (
                None,
                json.dumps({"listing_id": listing_id, "seller_id": "bench", "title": "t-shirt"}),
                "application/json",
            ),
        ),
        ("images", (photo[0], photo[1], "image/jpeg")),
    ]
    return client.post(CHECK, files=files, timeout=timeout)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation): an observed latency, never an invented one."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), load average {os.getloadavg()[0]:.1f} at start"
