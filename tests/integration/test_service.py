"""The HTTP service with a real uvicorn server on 127.0.0.1 and real multipart requests (fake OCR, fast).

Covers the decisions and their audit rows, a table of malformed and hostile requests that must each
get a specific 4xx (never a 5xx), the full-queue 503, the time budget, and readiness.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

import uvicorn
from conftest import BLUE, GREEN, RED, WHITE, FakeOcr, ImageFactory
from PIL import Image

from detector.audit import AuditLog
from detector.audit_blobs import BlobStore, blob_dir
from detector.config import Config, Limits, LogosConfig, ServiceConfig
from detector.errors import MissingModel
from detector.pipeline import Detector
from detector.service import CHECK_PATH, ServiceState, create_app
from detector.service_server import uvicorn_options
from detector.stages import NoRules
from detector.types import BrandSighting, Decision, Flag, Listing, Severity, TextSpan, Verdict

IMAGES = ImageFactory()
WORDS = {RED: "NIKE", BLUE: "ADIBAS", GREEN: "REPLICA", WHITE: ""}
BOUNDARY = "hostile-boundary-7f3a"


# -- fakes ------------------------------------------------------------------------------------------


def colour_ocr() -> FakeOcr:
    """Reads the word the nearest known colour of pixel (0, 0) stands for."""

    def read(n: int, image: Image.Image) -> list[TextSpan]:
        pixel = image.getpixel((0, 0))
        colour = min(WORDS, key=lambda c: sum((a - b) ** 2 for a, b in zip(c, pixel)))
        return [TextSpan(WORDS[colour], 0.9)] if WORDS[colour] else []

    return FakeOcr(per_call=read)


class ListingRules:
    """Blocks "replica", reviews "adibas", and reviews a Nike listing from anyone but nike-official."""

    name = "listing-rules.test"

    def load(self) -> None:
        pass

    def evaluate(
        self, texts: Sequence[TextSpan], logos: Sequence[Any], listing: Listing | None = None, *, listing_text: bool = False
    ) -> Verdict:
        words = {w.upper() for t in texts for w in t.text.split()}
        flags, brands, risk, decision = [], [], 0.0, Decision.ALLOW
        if "REPLICA" in words:
            flags.append(Flag("counterfeit_vocabulary", Severity.BLOCK, "says replica"))
            risk, decision = 0.95, Decision.BLOCK
        if "ADIBAS" in words:
            flags.append(Flag("lookalike_brand_text", Severity.REVIEW, "Adibas looks like adidas", brand="adidas"))
            brands.append(BrandSighting("adidas", 0.7, ("text",)))
            risk, decision = max(risk, 0.6), Decision.worst([decision, Decision.REVIEW])
        if listing is not None and listing.brand == "Nike" and listing.seller_id != "nike-official":
            flags.append(Flag("unauthorized_seller", Severity.REVIEW, "seller not authorised", brand="Nike"))
            risk, decision = max(risk, 0.5), Decision.worst([decision, Decision.REVIEW])
        return Verdict(texts=tuple(texts), flags=tuple(flags), brands=tuple(brands), risk=risk, decision=decision)


class GatedOcr:
    """Blocks every read until ``gate`` is set: fills the worker pool on demand."""

    name = "gated-ocr"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)

    def load(self) -> None:
        pass

    def read(self, image: Image.Image) -> list[TextSpan]:
        self.entered.release()
        self.gate.wait(30)
        return []


class SlowOcr:
    name = "slow-ocr"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    def load(self) -> None:
        pass

    def read(self, image: Image.Image) -> list[TextSpan]:
        self.calls += 1
        time.sleep(self.seconds)
        return []


class LoadingOcr:
    """An OCR whose ``load`` (called by ``Detector.warm_up``) waits for ``gate``, or fails."""

    name = "loading-ocr"

    def __init__(self, fail: Exception | None = None) -> None:
        self.gate = threading.Event()
        self.fail = fail

    def load(self) -> None:
        if self.fail is not None:
            raise self.fail
        self.gate.wait(30)

    def read(self, image: Image.Image) -> list[TextSpan]:
        return []


# -- a live server ----------------------------------------------------------------------------------


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1 (a port the OS picks) in a background thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # The settings `detector serve` runs with: its h11 protocol with read deadlines, its connection cap.
        options = uvicorn_options(app.state.service.svc)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", **options))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def state(self) -> ServiceState:
        return self.app.state.service

    def start(self, *, ready: bool = True) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        if ready:
            # Warm-up trains the keypoint stage's FAISS index: 6-7 s with other jobs on the 2 cores, so 10 s
            # was too tight to be a fair test of anything.
            wait_for(lambda: httpx.get(self.url + "/readyz").status_code == 200, "readyz", timeout=60)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def client(self, timeout: float = 20) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def serve(
    tmp_path: Path, ocr: Any, rules: Any = None, *, ready: bool = True, limits: Limits | None = None, **service: Any
) -> LiveServer:
    """A live server whose detector has ``ocr`` and ``rules`` (default: the pass-through stand-in) and one
    config for detector and service."""
    # The HTTP layer is under test, not the logos: the light keypoint and shape stages keep a check's cost
    # (and the slow-client tests' timing) what it was before the CNN joined the default stage.
    config = Config(limits=limits or Limits(), service=ServiceConfig(**service), logos=LogosConfig(backend="keypoints+shape"))
    detector = Detector(ocr=ocr, rules=rules if rules is not None else NoRules(), config=config)
    return LiveServer(create_app(detector, audit_path=tmp_path / "audit.db")).start(ready=ready)


# -- request builders --------------------------------------------------------------------------------


def part(name: str, data: bytes, *, filename: str | None = None, headers: Sequence[str] = ()) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = "".join(f"{h}\r\n" for h in (f"Content-Disposition: {disposition}", *headers))
    return head.encode() + b"\r\n" + data


def form(*parts: bytes, boundary: str = BOUNDARY, close: bool = True) -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    return body + (b"--" + boundary.encode() + b"--\r\n" if close else b"")


def listing_part(value: Any) -> bytes:
    return part("listing", value if isinstance(value, bytes) else json.dumps(value).encode())


def image_part(data: bytes, filename: str = "photo.jpg") -> bytes:
    return part("images", data, filename=filename, headers=["Content-Type: image/jpeg"])


MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
GOOD = {"listing_id": "L-1", "seller_id": "s-1", "title": "tee"}


def jpeg(colour: tuple[int, int, int] = WHITE, size: tuple[int, int] = (48, 32)) -> bytes:
    return IMAGES.jpeg(size, colour)


def check_files(listing: dict[str, Any], images: Sequence[tuple[str, bytes]]) -> list[tuple[str, Any]]:
    """httpx ``files=`` for a listing: what a marketplace client library sends."""
    files: list[tuple[str, Any]] = [("listing", (None, json.dumps(listing), "application/json"))]
    files += [("images", (name, data, "image/jpeg")) for name, data in images]
    return files


def raw_http(
    port: int, head: bytes, chunks: Sequence[bytes] = (), *, pause: float = 0.0
) -> tuple[int, dict[str, str], bytes]:
    """Send bytes exactly as given (headers the client libraries would correct), then read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head)
        for chunk in chunks:
            sock.sendall(chunk)
        if pause:
            time.sleep(pause)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


# -- decisions ---------------------------------------------------------------------------------------


@pytest.fixture
def decisions_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = serve(tmp_path, colour_ocr(), ListingRules())
    yield server
    server.stop()


def test_decisions_come_back_and_each_200_is_in_the_audit_log(decisions_server: LiveServer) -> None:
    cases = [
        ({"listing_id": "A", "seller_id": "s-1"}, [("plain.jpg", jpeg(WHITE))], "allow", []),
        (
            {"listing_id": "B", "seller_id": "s-1"},
            [("a.jpg", jpeg(WHITE)), ("b.jpg", jpeg(BLUE))],
            "review",
            [("lookalike_brand_text", ["image:b.jpg"])],
        ),
        (
            {"listing_id": "C", "seller_id": "s-2", "title": "replica bag"},
            [("c.jpg", jpeg(WHITE))],
            "block",
            [("counterfeit_vocabulary", ["listing_text"])],
        ),
        (
            {"listing_id": "D", "seller_id": "s-3", "brand": "Nike", "price": 19.5},
            [("d.jpg", jpeg(RED))],
            "review",
            [("unauthorized_seller", ["image:d.jpg", "listing_text"])],
        ),
        ({"listing_id": "E", "seller_id": "nike-official", "brand": "Nike"}, [("e.jpg", jpeg(RED))], "allow", []),
        (
            {"listing_id": "F", "title": "no photos, replica"},
            [],
            "block",
            [("counterfeit_vocabulary", ["listing_text"])],
        ),
        (
            {"listing_id": "G"},
            [("../../etc/passwd.jpg", jpeg(GREEN))],
            "block",
            [("counterfeit_vocabulary", ["image:passwd.jpg"])],
        ),
    ]
    acknowledged: list[tuple[int, dict[str, Any], list[bytes]]] = []
    with decisions_server.client() as client:
        for listing, images, expected, flags in cases:
            r = client.post(CHECK_PATH, files=check_files(listing, images))
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["listing_id"] == listing["listing_id"]
            assert body["decision"] == expected
            assert [(f["rule"], f["evidence"]) for f in body["flags"]] == flags
            assert [im["path"] for im in body["images"]] == [name.rsplit("/", 1)[-1] for name, _ in images]
            assert body["versions"]["ocr"] == "fake-ocr" and body["versions"]["rules"] == "listing-rules.test"
            assert set(body["timings_ms"]) >= {"read_body", "queue", "load", "ocr", "rules", "text_rules", "total"}
            assert r.headers["x-audit-id"] == str(body["audit_id"])
            acknowledged.append((body["audit_id"], body, [data for _, data in images]))

    with AuditLog(decisions_server.state.audit.path) as audit:
        assert audit.count() == len(cases)
        for audit_id, body, sent in acknowledged:
            record = audit.get(audit_id)
            assert record.listing_id == body["listing_id"]
            assert record.decision.value == body["decision"]
            assert record.seller_id == next(
                c[0].get("seller_id") for c in cases if c[0]["listing_id"] == body["listing_id"]
            )
            assert record.image_sha256s == [hashlib.sha256(d).hexdigest() for d in sent]
            assert record.flags == body["flags"]
            assert record.decision_json == {k: v for k, v in body.items() if k != "audit_id"}
            # The photos themselves are kept beside the log (service.audit_photos, on by default) for export.
            store = BlobStore(blob_dir(audit.path))
            assert [store.get(hashlib.sha256(d).hexdigest()) for d in sent] == sent


def test_with_audit_photos_off_the_log_keeps_only_the_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve(tmp_path, colour_ocr(), audit_photos=False)
    try:
        with server.client() as client:
            r = client.post(CHECK_PATH, files=check_files(GOOD, [("a.jpg", jpeg())]))
        assert r.status_code == 200, r.text
        assert server.state.audit.get(r.json()["audit_id"]).image_sha256s == [hashlib.sha256(jpeg()).hexdigest()]
        assert not blob_dir(server.state.audit.path).exists()
    finally:
        server.stop()
    # `detector serve --workers N --audit-no-photos`: each worker's app is built from the environment.
    from detector.service_server import _ENV, app_from_env

    settings = {"audit_path": str(tmp_path / "w.db"), "catalog": None, "config_path": None, "audit_photos": False}
    monkeypatch.setenv(_ENV, json.dumps(settings))
    audit = app_from_env().state.service.audit
    try:
        assert audit.blobs is None
    finally:
        audit.close()


def test_metrics_count_decisions_and_stage_latencies(decisions_server: LiveServer) -> None:
    with decisions_server.client() as client:
        for colour in (WHITE, GREEN, GREEN):
            assert client.post(CHECK_PATH, files=check_files(GOOD, [("x.jpg", jpeg(colour))])).status_code == 200
        assert client.post(CHECK_PATH, content=b"x", headers={"content-type": "text/plain"}).status_code == 415
        text = client.get("/metrics").text
    assert 'detector_decisions_total{decision="block"} 2.0' in text
    assert 'detector_decisions_total{decision="allow"} 1.0' in text
    assert 'detector_stage_duration_seconds_count{stage="ocr"} 3.0' in text
    assert 'detector_stage_duration_seconds_count{stage="audit"} 3.0' in text
    assert 'detector_errors_total{error="unsupported_media_type"} 1.0' in text
    assert 'detector_http_responses_total{status="415"} 1.0' in text
    assert "detector_request_duration_seconds_bucket" in text


def test_health_readiness_and_openapi(decisions_server: LiveServer) -> None:
    with decisions_server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["versions"]["ocr"] == "fake-ocr"
        spec = client.get("/openapi.json").json()
        body = spec["paths"][CHECK_PATH]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert set(body["properties"]) == {"listing", "images"}
        assert client.get("/docs").status_code == 200


# -- the hostile table -------------------------------------------------------------------------------


@dataclass
class Hostile:
    """A request the service must refuse with ``status`` and error code ``error`` (None: not our JSON)."""

    id: str
    status: int
    error: str | None
    body: bytes | Callable[[], Iterator[bytes]] = b""
    headers: dict[str, str] = field(default_factory=lambda: dict(MULTIPART))
    method: str = "POST"
    raw: bytes | None = None  # sent over a bare socket instead of httpx
    limit: str | None = None


def _listing(**changes: Any) -> bytes:
    return form(listing_part({**GOOD, **changes}), image_part(jpeg()))


def _chunked(total: int, chunk: int = 20_000) -> Callable[[], Iterator[bytes]]:
    body = form(listing_part(GOOD), *(image_part(b"\xff" * 90_000, f"{i}.jpg") for i in range(3)))
    assert len(body) >= total

    def gen() -> Iterator[bytes]:
        for i in range(0, len(body), chunk):
            yield body[i : i + chunk]

    return gen


def _bomb_png() -> bytes:
    return IMAGES.png_header(50_000, 50_000)


def _svg() -> bytes:
    return b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'


def _ico() -> bytes:
    return IMAGES.encode(IMAGES.rgb((16, 16)), "ICO")


HOSTILE = [
    # not multipart at all
    Hostile("no-content-type", 415, "unsupported_media_type", b"{}", headers={}),
    Hostile(
        "json-body", 415, "unsupported_media_type", b'{"listing_id": "L"}', headers={"content-type": "application/json"}
    ),
    Hostile(
        "urlencoded",
        415,
        "unsupported_media_type",
        b"listing=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    ),
    Hostile("no-boundary", 400, "malformed_multipart", _listing(), headers={"content-type": "multipart/form-data"}),
    Hostile(
        "boundary-300-chars",
        400,
        "malformed_multipart",
        b"x",
        headers={"content-type": "multipart/form-data; boundary=" + "b" * 300},
    ),
    # broken multipart
    Hostile("garbage-body", 400, "malformed_multipart", b"this is not multipart at all"),
    Hostile("empty-body", 400, "malformed_multipart", b""),
    Hostile("no-closing-boundary", 400, "malformed_multipart", form(listing_part(GOOD), close=False)),
    Hostile(
        "part-without-disposition",
        400,
        "malformed_multipart",
        b"--" + BOUNDARY.encode() + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + BOUNDARY.encode() + b"--\r\n",
    ),
    Hostile(
        "disposition-not-form-data",
        400,
        "malformed_multipart",
        form(b'Content-Disposition: attachment; name="listing"\r\n\r\n{}'),
    ),
    Hostile(
        "too-many-part-headers",
        400,
        "malformed_multipart",
        form(part("listing", b"{}", headers=[f"X-Pad-{i}: 1" for i in range(12)])),
    ),
    # the listing part
    Hostile("no-listing-part", 422, "missing_listing", form(image_part(jpeg()))),
    Hostile("no-parts-at-all", 422, "missing_listing", b"--" + BOUNDARY.encode() + b"--\r\n"),
    Hostile("listing-not-json", 400, "invalid_json", form(listing_part(b"{listing_id: L-1"))),
    Hostile("listing-not-utf8", 400, "invalid_json", form(listing_part(b'{"listing_id": "\xff\xfe"}'))),
    Hostile("listing-nested-deep", 400, "invalid_json", form(listing_part(b"[" * 1000 + b"]" * 1000))),
    Hostile("listing-is-array", 422, "invalid_listing", form(listing_part([GOOD]))),
    Hostile("listing-is-null", 422, "invalid_listing", form(listing_part(b"null"))),
    Hostile("listing-id-missing", 422, "invalid_listing", form(listing_part({"title": "x"}))),
    Hostile("listing-id-empty", 422, "invalid_listing", _listing(listing_id="")),
    Hostile("listing-id-number", 422, "invalid_listing", _listing(listing_id=123)),
    Hostile("listing-id-300-chars", 422, "invalid_listing", _listing(listing_id="L" * 300)),
    Hostile("listing-id-newline", 422, "invalid_listing", _listing(listing_id="L-1\nforged log line")),
    Hostile("seller-id-list", 422, "invalid_listing", _listing(seller_id=["a", "b"])),
    # lone surrogates: valid JSON escapes, but not text that UTF-8 (the audit log, the answer) can hold
    *(
        Hostile(f"{key}-lone-surrogate", 422, "invalid_listing", _listing(**{key: "L\ud800x"}))
        for key in ("listing_id", "seller_id", "title", "description", "brand")
    ),
    Hostile("title-number", 422, "invalid_listing", _listing(title=42)),
    Hostile("price-string", 422, "invalid_listing", _listing(price="12.00")),
    Hostile("price-negative", 422, "invalid_listing", _listing(price=-5)),
    Hostile("price-bool", 422, "invalid_listing", _listing(price=True)),
    Hostile("price-nan", 422, "invalid_listing", form(listing_part(b'{"listing_id": "L", "price": NaN}'))),
    Hostile("price-infinite", 422, "invalid_listing", form(listing_part(b'{"listing_id": "L", "price": 1e999}'))),
    Hostile(
        "price-huge-int",
        422,
        "invalid_listing",
        form(listing_part(b'{"listing_id": "L", "price": 1' + b"0" * 400 + b"}")),
    ),
    Hostile("unknown-listing-key", 422, "invalid_listing", _listing(seller="s-1")),
    Hostile("images-as-paths-in-json", 422, "invalid_listing", form(listing_part({**GOOD, "images": ["/etc/passwd"]}))),
    Hostile(
        "listing-part-too-big",
        413,
        "listing_too_large",
        form(listing_part({**GOOD, "description": "x" * 3000})),
        limit="service.max_listing_bytes",
    ),
    Hostile("two-listing-parts", 422, "duplicate_part", form(listing_part(GOOD), listing_part(GOOD))),
    Hostile("unknown-part", 422, "unknown_part", form(listing_part(GOOD), part("photos", jpeg(), filename="a.jpg"))),
    # limits
    Hostile(
        "too-many-images",
        413,
        "too_many_images",
        form(listing_part(GOOD), *[image_part(jpeg())] * 4),
        limit="service.max_images",
    ),
    Hostile(
        "image-too-many-bytes",
        413,
        "image_too_large",
        form(listing_part(GOOD), image_part(b"\xff" * 150_000)),
        limit="service.max_image_bytes",
    ),
    Hostile(
        "request-too-many-bytes-chunked", 413, "request_too_large", _chunked(250_001), limit="service.max_request_bytes"
    ),
    Hostile(
        "content-length-lies-huge",
        413,
        "request_too_large",
        limit="service.max_request_bytes",
        raw=f"POST {CHECK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        "Content-Length: 1000000000000\r\n\r\n".encode()
        + b"--",
    ),
    Hostile(
        "image-too-many-pixels",
        413,
        "too_many_pixels",
        form(listing_part(GOOD), image_part(IMAGES.png((1200, 1000)))),
        limit="limits.max_pixels",
    ),
    Hostile(
        "decompression-bomb",
        413,
        "too_many_pixels",
        form(listing_part(GOOD), image_part(_bomb_png(), "bomb.png")),
        limit="limits.max_pixels",
    ),
    # not images
    Hostile("text-file-as-image", 422, "invalid_image", form(listing_part(GOOD), image_part(IMAGES.text(), "a.txt"))),
    Hostile("empty-image", 422, "invalid_image", form(listing_part(GOOD), image_part(b""))),
    Hostile("truncated-jpeg", 422, "invalid_image", form(listing_part(GOOD), image_part(IMAGES.truncated_jpeg()))),
    Hostile("random-bytes", 422, "invalid_image", form(listing_part(GOOD), image_part(IMAGES.random_bytes(5000)))),
    Hostile("svg", 422, "invalid_image", form(listing_part(GOOD), image_part(_svg(), "x.svg"))),
    Hostile(
        "pdf", 422, "invalid_image", form(listing_part(GOOD), image_part(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"))
    ),
    Hostile("ico-unsupported-format", 422, "invalid_image", form(listing_part(GOOD), image_part(_ico(), "x.ico"))),
    Hostile(
        "second-image-bad", 422, "invalid_image", form(listing_part(GOOD), image_part(jpeg()), image_part(b"GIF89a"))
    ),
    # wrong method / protocol
    Hostile("get-check", 405, None, method="GET", headers={}),
    Hostile("put-check", 405, None, method="PUT"),
    Hostile(
        "content-length-not-a-number",
        400,
        None,
        raw=f"POST {CHECK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        "Content-Length: ten\r\n\r\n".encode(),
    ),
]


def serve_small(tmp: Path) -> LiveServer:
    """A live server with small limits, so that requests (hand-made or generated) reach every 413."""
    return serve(
        tmp,
        colour_ocr(),
        ListingRules(),
        limits=Limits(max_pixels=1_000_000),
        max_images=3,
        max_image_bytes=100_000,
        max_request_bytes=250_000,
        max_listing_bytes=2048,
        time_budget_s=20.0,
    )


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = serve_small(tmp_path_factory.mktemp("hostile"))
    yield server
    server.stop()


def test_the_hostile_table_is_big_enough() -> None:
    assert len(HOSTILE) >= 30
    assert len({h.id for h in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize("case", HOSTILE, ids=[h.id for h in HOSTILE])
def test_hostile_request_gets_its_4xx(hostile_server: LiveServer, case: Hostile) -> None:
    if case.raw is not None:
        status, _, raw_body = raw_http(hostile_server.port, case.raw)
    else:
        with hostile_server.client() as client:
            content = case.body() if callable(case.body) else case.body
            r = client.request(case.method, CHECK_PATH, content=content, headers=case.headers)
            status, raw_body = r.status_code, r.content
    assert status < 500, raw_body[:300]
    assert status == case.status, raw_body[:300]
    if case.error is not None:
        body = json.loads(raw_body)
        assert body["error"] == case.error, body
        assert body["detail"]
        if case.limit is not None:
            svc = hostile_server.state.svc
            config = {"service": svc, "limits": hostile_server.state.detector.config.limits}  # type: ignore[union-attr]
            section, key = case.limit.split(".")
            assert body["limit"] == case.limit
            assert body["value"] == getattr(config[section], key)
            value = body["value"]
            # the message states the limit too, in one of the ways io.py and service.py write it
            assert any(v in body["detail"] for v in (str(value), f"{value:,}", f"{value / 1e6:.0f} Mpx")), body


def test_after_the_table_nothing_was_decided_or_failed(hostile_server: LiveServer) -> None:
    with hostile_server.client() as client:
        text = client.get("/metrics").text
        # the server still answers a good listing
        ok = client.post(CHECK_PATH, files=check_files(GOOD, [("ok.jpg", jpeg())]))
    assert ok.status_code == 200
    assert 'status="5' not in text
    assert "internal_error" not in text
    assert hostile_server.state.admitted == 0
    assert hostile_server.state.audit.count() == 1  # only the good listing


@pytest.mark.parametrize("key", ["listing_id", "seller_id", "title", "description", "brand"])
def test_a_lone_surrogate_is_a_422_that_names_the_field(hostile_server: LiveServer, key: str) -> None:
    listing = {**GOOD, key: "\udcff" if key != "listing_id" else "L-\ud800"}
    with hostile_server.client() as client:
        r = client.post(CHECK_PATH, files=check_files(listing, [("a.jpg", jpeg())]))
    assert r.status_code == 422, r.text
    body = r.json()
    assert (body["error"], body["field"]) == ("invalid_listing", key)
    assert f"listing.{key}" in body["detail"] and "surrogate" in body["detail"]


def test_an_internal_error_is_a_500_counted_in_the_responses_metric(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(tmp_path, colour_ocr())

    def broken(*args: Any, **kwargs: Any) -> int:
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    monkeypatch.setattr(server.state.audit, "record", broken)
    try:
        with server.client() as client:
            r = client.post(CHECK_PATH, files=check_files(GOOD, [("a.jpg", jpeg())]))
            text = client.get("/metrics").text
        assert r.status_code == 500 and r.json()["error"] == "internal_error"
        assert 'detector_http_responses_total{status="500"} 1.0' in text
        assert 'detector_errors_total{error="internal_error"} 1.0' in text
        assert server.state.admitted == 0
    finally:
        server.stop()


# -- load: the bounded queue and the time budget ----------------------------------------------------


def test_a_full_queue_answers_503_with_retry_after(tmp_path: Path) -> None:
    ocr = GatedOcr()
    server = serve(tmp_path, ocr, max_in_flight=1, max_waiting=1, time_budget_s=30.0)
    results: dict[str, httpx.Response] = {}

    def post(name: str) -> None:
        with server.client(timeout=40) as client:
            results[name] = client.post(CHECK_PATH, files=check_files({"listing_id": name}, [("a.jpg", jpeg())]))

    first = threading.Thread(target=post, args=("first",))
    second = threading.Thread(target=post, args=("second",))
    try:
        first.start()
        assert ocr.entered.acquire(timeout=10), "the first listing never reached the OCR"
        second.start()
        wait_for(lambda: server.state.admitted == 2, "the second listing to wait in the queue")
        with server.client() as client:
            t = time.monotonic()
            third = client.post(CHECK_PATH, files=check_files({"listing_id": "third"}, [("a.jpg", jpeg())]))
            refused_in = time.monotonic() - t
            health = client.get("/healthz")
            metrics = client.get("/metrics").text
        assert third.status_code == 503
        assert third.json()["error"] == "queue_full"
        assert third.json()["limit"] == "service.max_waiting" and third.json()["value"] == 1
        assert third.headers["retry-after"].isdigit() and int(third.headers["retry-after"]) >= 1
        assert refused_in < 2.0  # refused at once, not after waiting
        assert health.status_code == 200  # the event loop is free while the worker is busy
        assert "detector_in_flight 1.0" in metrics and "detector_waiting 1.0" in metrics
    finally:
        ocr.gate.set()
        first.join(30)
        second.join(30)
    assert results["first"].status_code == results["second"].status_code == 200
    ids = {results[n].json()["audit_id"] for n in ("first", "second")}
    assert server.state.audit.ids() == ids
    wait_for(lambda: server.state.admitted == 0, "the queue to drain")
    server.stop()


def test_the_time_budget_answers_408_and_records_nothing(tmp_path: Path) -> None:
    ocr = SlowOcr(0.4)
    server = serve(tmp_path, ocr, time_budget_s=1.0)
    try:
        with server.client() as client:
            t = time.monotonic()
            r = client.post(
                CHECK_PATH, files=check_files({"listing_id": "slow"}, [(f"{i}.jpg", jpeg()) for i in range(6)])
            )
            took = time.monotonic() - t
        assert r.status_code == 408
        body = r.json()
        assert body["error"] == "time_budget_exceeded"
        assert (body["limit"], body["value"]) == ("service.time_budget_s", 1.0)
        assert took < 2.5
        # the worker stops at its next checkpoint instead of finishing all six images
        wait_for(lambda: server.state.admitted == 0, "the worker to give its slot back", timeout=5)
        assert ocr.calls < 6
        assert server.state.audit.count() == 0
    finally:
        server.stop()


def test_a_body_that_trickles_in_runs_out_of_time(tmp_path: Path) -> None:
    server = serve(tmp_path, colour_ocr(), time_budget_s=1.0)
    try:
        head = (
            f"POST {CHECK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            "Content-Length: 5000\r\n\r\n"
        ).encode()
        t = time.monotonic()
        status, _, body = raw_http(server.port, head, [form(listing_part(GOOD))[:40]])
        assert status == 408 and json.loads(body)["error"] == "time_budget_exceeded"
        assert 0.9 < time.monotonic() - t < 3.0
        assert server.state.admitted == 0
    finally:
        server.stop()


# -- readiness -----------------------------------------------------------------------------------------


def test_not_ready_until_the_models_are_loaded(tmp_path: Path) -> None:
    ocr = LoadingOcr()
    server = serve(tmp_path, ocr, ready=False)
    try:
        with server.client() as client:
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json() == {"status": "loading"}
            assert client.get("/healthz").status_code == 200
            r = client.post(CHECK_PATH, files=check_files(GOOD, [("a.jpg", jpeg())]))
            assert r.status_code == 503 and r.json()["error"] == "not_ready" and r.headers["retry-after"] == "5"
            ocr.gate.set()
            wait_for(lambda: client.get("/readyz").status_code == 200, "readyz after loading")
            assert client.post(CHECK_PATH, files=check_files(GOOD, [("a.jpg", jpeg())])).status_code == 200
    finally:
        ocr.gate.set()
        server.stop()


def test_a_failed_warm_up_is_reported_not_hidden(tmp_path: Path) -> None:
    server = serve(tmp_path, LoadingOcr(fail=MissingModel("weights are not installed")), ready=False)
    try:
        with server.client() as client:
            wait_for(lambda: client.get("/readyz").json().get("status") == "failed", "the warm-up to fail")
            ready = client.get("/readyz")
            assert ready.status_code == 503 and "weights are not installed" in ready.json()["error"]
            r = client.post(CHECK_PATH, files=check_files(GOOD, [("a.jpg", jpeg())]))
            assert r.status_code == 503 and r.json()["error"] == "models_unavailable"
    finally:
        server.stop()
