"""Slow clients against a live server (loopback, fake fast OCR): they are cut off, everyone else is served.

80 clients dribble their request headers a byte every half second; 17 send their headers and then
dribble a 300-byte body (one more than ``max_in_flight + max_waiting``). While they keep at it (each
one reconnects when it is cut off), ``/healthz`` must answer within 1 s and ``/v1/listings/check``
within its normal time, and each slow client must be cut off at its deadline with a 408. The same
attack at the shipped deadlines is measured by ``benchmarks/slow_clients.py`` (BENCHMARKS.md,
"Hostile input").
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from test_service import (
    BOUNDARY,
    CHECK_PATH,
    GOOD,
    LiveServer,
    check_files,
    colour_ocr,
    form,
    jpeg,
    listing_part,
    serve,
)

HEADER_CLIENTS = 80
BODY_CLIENTS = 17  # max_in_flight 1 + max_waiting 16, plus one: enough to fill the old queue
DRIBBLE_S = 0.5
DEADLINE_S = 2.0  # header_timeout_s and body_timeout_s of the server under test
ATTACK_S = 3 * DEADLINE_S + 1  # long enough for every client to be cut off and come back


@dataclass
class Cut:
    """What a slow connection got when it ended: its lifetime and the status line it was answered with."""

    seconds: float
    status: str
    body: bytes


@dataclass
class Attack:
    port: int
    head: bytes
    body: bytes = b""
    stop: threading.Event = field(default_factory=threading.Event)
    cuts: list[Cut] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self) -> None:
        """Dribble ``head`` (then ``body``) a byte every DRIBBLE_S, reconnecting whenever cut off."""
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            except OSError:  # refused: a server at its connection cap, or one that stopped
                with self.lock:
                    self.refused += 1
                self.stop.wait(DRIBBLE_S)
                continue
            with sock:
                sock.settimeout(DRIBBLE_S)  # each recv() below is also the pause between two bytes
                slow = self.head if not self.body else self.body
                if self.body:
                    sock.sendall(self.head)  # the headers at once, then the body slowly
                answer = self._dribble(sock, slow)
            if answer is not None:
                with self.lock:
                    status = answer.split(b"\r\n", 1)[0].decode("latin-1")
                    self.cuts.append(Cut(time.monotonic() - started, status, answer.split(b"\r\n\r\n", 1)[-1]))

    def _dribble(self, sock: socket.socket, data: bytes) -> bytes | None:
        for byte in data:
            if self.stop.is_set():
                return None
            try:
                sock.sendall(bytes([byte]))
                got = sock.recv(4096)
            except TimeoutError:
                continue  # nothing from the server: send the next byte
            except OSError:
                return b"(reset)"
            return got + _rest(sock) if got else b"(closed)"
        return None


def _rest(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    except OSError:
        pass
    return b"".join(chunks)


def _run(attack: Attack, clients: int, server: LiveServer) -> tuple[list[float], list[tuple[int, float]]]:
    """Start the slow clients, then measure /healthz and /check while they run; returns both latencies."""
    threads = [threading.Thread(target=attack.client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    health: list[float] = []
    checks: list[tuple[int, float]] = []
    try:
        time.sleep(DRIBBLE_S * 2)  # every slow client is connected and under way
        end = time.monotonic() + ATTACK_S
        while time.monotonic() < end:
            with httpx.Client(base_url=server.url, timeout=10) as client:  # a new connection each time
                t = time.monotonic()
                assert client.get("/healthz").status_code == 200
                health.append(time.monotonic() - t)
                t = time.monotonic()
                r = client.post(CHECK_PATH, files=check_files(GOOD, [("a.jpg", jpeg())]))
                checks.append((r.status_code, time.monotonic() - t))
            time.sleep(0.2)
    finally:
        attack.stop.set()
        for t in threads:
            t.join(5)
    return health, checks


def _normal_check_time(server: LiveServer) -> float:
    with server.client() as client:
        times = []
        for _ in range(5):
            t = time.monotonic()
            assert client.post(CHECK_PATH, files=check_files(GOOD, [("a.jpg", jpeg())])).status_code == 200
            times.append(time.monotonic() - t)
    return max(times)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = serve(
        tmp_path_factory.mktemp("slow"), colour_ocr(), header_timeout_s=DEADLINE_S, body_timeout_s=DEADLINE_S
    )
    yield live
    live.stop()


def _assert_served(server: LiveServer, health: list[float], checks: list[tuple[int, float]], normal: float) -> None:
    assert len(health) >= 10 and len(checks) >= 10
    assert max(health) < 1.0, f"/healthz took up to {max(health):.2f} s"
    assert [s for s, _ in checks] == [200] * len(checks)
    # "its normal time": a fake-OCR check takes tens of ms; a busy 2-core box gets some slack.
    assert max(t for _, t in checks) < max(2.0, 5 * normal), (normal, checks)
    with server.client() as client:
        metrics = client.get("/metrics").text
    assert 'status="503"' not in metrics and 'status="5' not in metrics


def test_clients_dribbling_headers_are_cut_off_and_everyone_else_is_served(server: LiveServer) -> None:
    normal = _normal_check_time(server)
    head = f"GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: {'s' * 400}\r\n\r\n".encode()
    attack = Attack(server.port, head)
    health, checks = _run(attack, HEADER_CLIENTS, server)
    _assert_served(server, health, checks, normal)
    # each slow client was cut at the header deadline, with a 408 that says which limit
    assert len(attack.cuts) >= HEADER_CLIENTS
    assert {c.status for c in attack.cuts} == {"HTTP/1.1 408 Request Timeout"}
    assert all(DEADLINE_S - 0.2 < c.seconds < DEADLINE_S + 1.5 for c in attack.cuts), sorted(c.seconds for c in attack.cuts)
    body = json.loads(attack.cuts[0].body)
    assert (body["error"], body["limit"], body["value"]) == ("header_timeout", "service.header_timeout_s", DEADLINE_S)


def test_clients_dribbling_a_body_hold_no_queue_slot(server: LiveServer) -> None:
    normal = _normal_check_time(server)
    body = form(listing_part(GOOD))
    body = body + b" " * (300 - len(body)) if len(body) < 300 else body
    head = (
        f"POST {CHECK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    attack = Attack(server.port, head, body)
    health, checks = _run(attack, BODY_CLIENTS, server)
    _assert_served(server, health, checks, normal)
    assert len(attack.cuts) >= BODY_CLIENTS
    assert {c.status for c in attack.cuts} == {"HTTP/1.1 408 Request Timeout"}
    assert all(c.seconds < DEADLINE_S + 1.5 for c in attack.cuts), sorted(c.seconds for c in attack.cuts)
    answer = json.loads(attack.cuts[0].body)
    assert (answer["error"], answer["limit"], answer["value"]) == ("body_timeout", "service.body_timeout_s", DEADLINE_S)
    assert server.state.admitted == 0 and server.state.body_bytes == 0


def test_a_body_sent_at_once_after_slow_headers_is_not_penalised(server: LiveServer, tmp_path: Path) -> None:
    # The deadlines are on arrival, not on the client: headers sent in two halves a second apart
    # (under the 2 s deadline) and a normal body are answered as usual.
    files_body = form(listing_part(GOOD))
    head = (
        f"POST {CHECK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(files_body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head[:20])
        time.sleep(1.0)
        sock.sendall(head[20:] + files_body)
        answer = _rest_until(sock, b"}")
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def _rest_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.rstrip().endswith(end):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_bytes_held_by_bodies_are_capped(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Bodies are read before admission, so their memory is bounded by bytes held, not by queue slots.
    import dataclasses

    monkeypatch.setattr(server.state, "svc", dataclasses.replace(server.state.svc, max_body_buffer_bytes=5_000))
    with server.client() as client:
        r = client.post(CHECK_PATH, files=check_files(GOOD, [("a.jpg", b"\xff" * 8_000)]))
    assert r.status_code == 503, r.text
    body = r.json()
    assert (body["error"], body["limit"], body["value"]) == ("server_busy", "service.max_body_buffer_bytes", 5_000)
    assert r.headers["retry-after"].isdigit()
    assert server.state.body_bytes == 0 and server.state.admitted == 0


def test_the_next_request_on_a_kept_alive_connection_has_its_own_header_deadline(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = _rest_until(sock, b"}")
        assert first.startswith(b"HTTP/1.1 200"), first[:100]
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # the next request's headers, never finished
        answer = _rest(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert b"header_timeout" in answer
    assert DEADLINE_S - 0.5 < time.monotonic() - started < DEADLINE_S + 1.5
