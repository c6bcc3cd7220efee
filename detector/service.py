"""HTTP service around the upload hook (FastAPI); imported only by ``detector serve`` and tests.

``POST /v1/listings/check`` takes a multipart body (one ``listing`` JSON part, ``images`` file
parts) and answers the hook's ``ListingDecision`` as JSON, plus ``audit_id``. The decision is
committed to the audit log before the answer is sent.

Hostile input costs little and never gets a 5xx:

* the body is streamed through a multipart parser with every limit checked as bytes arrive
  (request bytes, listing bytes, image count, bytes per image), not after buffering it and not
  by trusting ``Content-Length``;
* images are decoded by ``detector.io`` (pixel limit checked on the header, before decoding);
* the body is read before admission, under its own deadline (``body_timeout_s``, ``408``), so a
  client dribbling its body holds no queue slot; the bytes held by bodies being read or waiting
  are capped (``max_body_buffer_bytes``), counted per byte received;
* admission is bounded: at most ``max_in_flight`` listings are analysed (in a thread pool, off
  the event loop) and ``max_waiting`` wait; anyone beyond gets ``503`` + ``Retry-After``, at
  once when the queue is already full on arrival, so a flood costs no memory;
* every request has a time budget, queue wait included (``408`` when it runs out);
* headers have a deadline too, and connections a cap: that is the server's part
  (``detector.service_server``).

Each 4xx body says which limit was hit and its value::

    {"error": "too_many_images", "detail": "…", "limit": "service.max_images", "value": 8}

Run it with ``detector serve`` (127.0.0.1:8080 by default, ``detector.service_server``);
``create_app`` builds the app.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from detector.audit import DEFAULT_AUDIT_DB, AuditError, AuditLog
from detector.config import Config, ServiceConfig
from detector.errors import ModelError
from detector.hooks import (
    ListingError,
    ListingImageError,
    TimeBudgetExceeded,
    on_listing_upload,
    versions,
)
from detector.pipeline import Detector
from detector.service_form import Rejected, budget_exceeded, parse_listing, read_form
from detector.service_metrics import Metrics
from detector.service_openapi import CHECK_DESCRIPTION, check_request_body, check_responses, readyz_responses
from detector.types import Listing, ListingDecision

__all__ = ["Rejected", "ServiceState", "create_app"]

log = logging.getLogger(__name__)

CHECK_PATH = "/v1/listings/check"
# Retry-After while the models load: warm-up takes a few seconds to tens of seconds on 2 cores.
NOT_READY_RETRY_S = 5


# -- state ------------------------------------------------------------------------------------------


class ServiceState:
    """Everything one app instance holds: detector, audit log, worker pool, admission counters, metrics."""

    def __init__(
        self,
        detector: Detector | None,
        config: Config,
        audit: AuditLog,
        build: Callable[[], Detector],
    ) -> None:
        self.detector = detector
        self.config = config
        self.svc: ServiceConfig = config.service
        self.audit = audit
        self._build = build
        self.metrics = Metrics()
        self.pool = ThreadPoolExecutor(max_workers=self.svc.max_in_flight, thread_name_prefix="detector-check")
        self.workers: asyncio.Semaphore | None = None  # made on the event loop, at startup
        self.admitted = 0  # waiting + in flight; only touched on the event loop
        self.running = 0
        self.body_bytes = 0  # bytes of bodies being read or admitted; only touched on the event loop
        self.ready = threading.Event()
        self.failed: str | None = None
        # Seconds per listing, smoothed; seeds Retry-After. 4 s: one photo of real OCR on 2 shared cores
        # (BENCHMARKS.md, "Upload hook and service").
        self.seconds_per_listing = 4.0
        limits = (detector.config if detector is not None else config).limits
        self.image_bytes = min(self.svc.max_image_bytes, limits.max_file_bytes)
        self.image_bytes_key = (
            "service.max_image_bytes" if self.svc.max_image_bytes <= limits.max_file_bytes else "limits.max_file_bytes"
        )

    def warm_up(self) -> None:
        """Build the detector if needed and load its models; runs in a background thread at startup."""
        try:
            if self.detector is None:
                self.detector = self._build()
            self.detector.warm_up()
            versions(self.detector)  # the catalog hash is computed once, here, not on the first request
        except Exception as exc:
            log.exception("warm-up failed")
            self.failed = f"{type(exc).__name__}: {exc}"
            return
        self.ready.set()
        self.metrics.ready.set(1)
        log.info("detector ready: %s", self.detector.stages)

    def retry_after(self) -> str:
        backlog = max(1, self.admitted) / self.svc.max_in_flight
        return str(int(min(120, max(1, math.ceil(backlog * self.seconds_per_listing)))))

    def admit(self) -> None:
        """Take a queue slot, or refuse with 503 + Retry-After when every slot is taken."""
        self.check_room()
        self.admitted += 1
        self.update_gauges()

    def check_room(self) -> None:
        if self.admitted >= self.svc.max_in_flight + self.svc.max_waiting:
            raise Rejected(
                503,
                "queue_full",
                f"{self.admitted} listings are being checked or waiting (in flight {self.svc.max_in_flight} + "
                f"waiting {self.svc.max_waiting}); retry after the Retry-After seconds",
                limit="service.max_waiting",
                value=self.svc.max_waiting,
                headers={"Retry-After": self.retry_after()},
            )

    def leave(self) -> None:
        self.admitted -= 1
        self.update_gauges()

    def body_reservation(self) -> BodyBytes:
        return BodyBytes(self)

    def update_gauges(self) -> None:
        self.metrics.in_flight.set(self.running)
        self.metrics.waiting.set(self.admitted - self.running)


class BodyBytes:
    """The bytes one request's body holds against ``service.max_body_buffer_bytes``, until ``release``."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.held = 0

    def reserve(self, n: int) -> None:
        state, cap = self.state, self.state.svc.max_body_buffer_bytes
        if state.body_bytes + n > cap:
            raise Rejected(
                503,
                "server_busy",
                f"request bodies already hold {state.body_bytes} bytes; the limit is "
                f"service.max_body_buffer_bytes = {cap}: retry after the Retry-After seconds",
                limit="service.max_body_buffer_bytes",
                value=cap,
                headers={"Retry-After": state.retry_after()},
            )
        state.body_bytes += n
        self.held += n

    def release(self) -> None:
        self.state.body_bytes -= self.held
        self.held = 0


# -- the app ----------------------------------------------------------------------------------------


def create_app(
    detector: Detector | None = None,
    config: Config | None = None,
    audit_path: str | Path = DEFAULT_AUDIT_DB,
    *,
    catalog: str | Path | None = None,
) -> FastAPI:
    """The FastAPI app. ``detector`` defaults to ``Detector(config=config, catalog=catalog)``, built and
    warmed up in a background thread at startup (``/readyz`` answers 503 until it is done).

    ``config`` supplies the service limits (``config.service``); it defaults to the detector's config.
    """
    config = config or (detector.config if detector is not None else Config())
    audit = AuditLog(audit_path, photos=config.service.audit_photos)
    state = ServiceState(detector, config, audit, lambda: Detector(config=config, catalog=catalog))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.workers = asyncio.Semaphore(state.svc.max_in_flight)
        threading.Thread(target=state.warm_up, name="detector-warm-up", daemon=True).start()
        yield
        state.pool.shutdown(wait=True, cancel_futures=True)
        audit.close()

    app = FastAPI(
        title="Counterfeit-branding detector",
        version=_package_version(),
        summary="Checks a marketplace listing's photos and text for counterfeit branding.",
        lifespan=lifespan,
    )
    app.state.service = state

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="The models are loaded", responses=readyz_responses())
    async def readyz() -> JSONResponse:
        if state.failed:
            return JSONResponse({"status": "failed", "error": state.failed}, status_code=503)
        if not state.ready.is_set() or state.detector is None:
            return JSONResponse({"status": "loading"}, status_code=503, headers={"Retry-After": str(NOT_READY_RETRY_S)})
        return JSONResponse({"status": "ready", "versions": versions(state.detector)})

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        CHECK_PATH,
        summary="Check one listing",
        description=CHECK_DESCRIPTION,
        openapi_extra=check_request_body(state.svc),
        responses=check_responses(),
        response_class=JSONResponse,
    )
    async def check(request: Request) -> Response:
        arrived = time.monotonic()
        try:
            response = await _check(request, state, arrived)
        except Rejected as rej:
            state.metrics.errors.labels(rej.error).inc()
            response = rej.response()
        except Exception as exc:  # noqa: BLE001 - any bug becomes a counted 500, never a dropped answer
            # Answered here, not by the app-wide handler, so a 500 is counted like every other status.
            response = _internal_error(request, state, exc)
        state.metrics.latency.observe(time.monotonic() - arrived)
        state.metrics.responses.labels(str(response.status_code)).inc()
        return response

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        return _internal_error(request, state, exc)

    return app


def _internal_error(request: Request, state: ServiceState, exc: Exception) -> JSONResponse:
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    state.metrics.errors.labels("internal_error").inc()
    # backslashreplace: the answer must encode as UTF-8 even when the failure was about text that does not.
    detail = f"{type(exc).__name__}: {exc}".encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse({"error": "internal_error", "detail": detail}, status_code=500)


async def _check(request: Request, state: ServiceState, arrived: float) -> Response:
    svc = state.svc
    deadline = arrived + svc.time_budget_s
    if state.failed:
        raise Rejected(503, "models_unavailable", f"the detector failed to start: {state.failed}")
    if not state.ready.is_set():
        raise Rejected(
            503,
            "not_ready",
            "the models are still loading; retry after the Retry-After seconds (see /readyz)",
            headers={"Retry-After": str(NOT_READY_RETRY_S)},
        )
    state.check_room()  # a queue already full refuses at the cost of the headers alone, not a body read
    body = state.body_reservation()
    handed_over = admitted = False
    try:
        # The body is read before admission, under its own deadline: a client dribbling it holds bytes
        # (counted), not one of the queue's slots.
        t = time.monotonic()
        form = await read_form(
            request,
            svc,
            (state.image_bytes, state.image_bytes_key),
            deadline,
            body_deadline=arrived + svc.body_timeout_s,
            reserve=body.reserve,
        )
        waited = {"read_body": time.monotonic() - t}
        listing, names = parse_listing(form)
        state.admit()
        admitted = True

        t = time.monotonic()
        assert state.workers is not None  # set at startup
        try:
            await asyncio.wait_for(state.workers.acquire(), timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise Rejected(
                503,
                "queue_timeout",
                f"waited {time.monotonic() - t:.1f} s for a worker and the time budget ran out; retry later",
                limit="service.time_budget_s",
                value=svc.time_budget_s,
                headers={"Retry-After": state.retry_after()},
            ) from None
        waited["queue"] = time.monotonic() - t
        state.running += 1
        state.update_gauges()
        cancelled = threading.Event()
        future = state.pool.submit(_work, state, listing, names, deadline, cancelled, waited)
        loop = asyncio.get_running_loop()
        # The worker slot, the admission and the body's bytes are given back when the thread is really
        # done, not when the answer goes out: a timed-out listing still occupies its thread until its
        # next checkpoint.
        future.add_done_callback(lambda f: loop.call_soon_threadsafe(_release, state, body))
        handed_over = True
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            cancelled.set()
            raise budget_exceeded(svc, arrived) from None
    finally:
        if not handed_over:
            body.release()
            if admitted:
                state.leave()

    if isinstance(result, Rejected):
        raise result
    decision, audit_id = result
    state.metrics.decisions.labels(decision.decision.value).inc()
    body = decision.to_dict() | {"audit_id": audit_id}
    return JSONResponse(body, headers={"X-Audit-Id": str(audit_id)})


def _release(state: ServiceState, body: BodyBytes) -> None:
    assert state.workers is not None
    state.workers.release()
    state.running -= 1
    state.leave()
    body.release()


def _work(
    state: ServiceState,
    listing: Listing,
    names: list[str],
    deadline: float,
    cancelled: threading.Event,
    waited: dict[str, float],
) -> tuple[ListingDecision, int] | Rejected:
    """Runs in a worker thread: the hook, then the audit commit. Returns a Rejected instead of raising it.

    ``waited`` holds the seconds spent before the hook (reading the body, queueing); they join the
    decision's timings, so the answer and the audit record show where a slow answer's time went.
    """
    svc = state.svc
    assert state.detector is not None
    started = time.monotonic()
    try:
        decision = on_listing_upload(
            listing, detector=state.detector, names=names, time_budget_s=max(0.0, deadline - started)
        )
    except ListingImageError as exc:
        if exc.too_large:
            # io's message already names the pixel limit and how to raise it.
            limits = state.detector.config.limits
            return Rejected(
                413, "too_many_pixels", str(exc), limit="limits.max_pixels", value=limits.max_pixels, image=exc.index
            )
        return Rejected(422, "invalid_image", str(exc), image=exc.index)
    except ListingError as exc:
        return Rejected(422, "invalid_listing", str(exc), field=exc.field)
    except TimeBudgetExceeded:
        return budget_exceeded(svc, deadline - svc.time_budget_s)
    except ModelError as exc:
        log.error("model unavailable: %s", exc)
        return Rejected(503, "models_unavailable", str(exc))
    elapsed = time.monotonic() - started
    state.seconds_per_listing = 0.8 * state.seconds_per_listing + 0.2 * elapsed
    decision = dataclasses.replace(
        decision, timings_ms={**{k: v * 1000.0 for k, v in waited.items()}, **decision.timings_ms}
    )
    for stage in ("read_body", "queue", "load", "ocr", "logos", "rules", "text_rules"):
        state.metrics.stage.labels(stage).observe(decision.timings_ms.get(stage, 0.0) / 1000.0)
    if cancelled.is_set():
        # The client already has its 408; a decision it never saw is not recorded as returned.
        return budget_exceeded(svc, deadline - svc.time_budget_s)
    t = time.monotonic()
    try:
        audit_id = state.audit.record(decision, seller_id=listing.seller_id, images=listing.images)
    except AuditError as exc:
        log.error("audit write failed: %s", exc)
        # No record, no answer: a decision that cannot be audited is not returned.
        return Rejected(
            503, "audit_unavailable", f"the decision could not be recorded: {exc}", headers={"Retry-After": "5"}
        )
    state.metrics.stage.labels("audit").observe(time.monotonic() - t)
    return decision, audit_id


def _package_version() -> str:
    from detector import __version__

    return __version__
