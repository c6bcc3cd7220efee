"""Running the HTTP service: uvicorn with read deadlines it lacks, and ``detector serve``.

uvicorn has no header timeout and no body timeout: a client that sends its request a byte every
half second keeps a connection (and, with ``limit_concurrency``, everyone else's chance of one)
for as long as it likes. ``DeadlineH11Protocol`` is uvicorn's h11 protocol plus two deadlines,
both from the app's ``service:`` config:

* ``header_timeout_s``: the request line and headers must be in that many seconds after the
  connection opens (or after the previous answer, on a kept-alive connection); else ``408`` and
  the connection is closed;
* ``body_timeout_s``: the body must be in that many seconds after the headers. The check endpoint
  enforces it itself while it reads the body (``service_form.read_form``, a JSON ``408``); the
  protocol closes a connection whose body is still arriving a second later, whatever the endpoint.

``max_connections`` is uvicorn's ``limit_concurrency``: beyond it, requests get 503.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from detector.audit import DEFAULT_AUDIT_DB, AuditLog
from detector.config import Config, ServiceConfig

__all__ = ["DeadlineH11Protocol", "app_from_env", "serve", "uvicorn_options"]

# The protocol closes a body that is still arriving this long after the app's own deadline, so the
# app's JSON 408 goes out first.
BODY_GRACE_S = 1.0
_ENV = "DETECTOR_SERVE_SETTINGS"


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a body deadline (see the module doc)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadlines = _deadlines(self.config)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Where the request is now, after h11 parsed what came: the timers follow the client's state.
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            self._cancel("_header_timer")
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self._deadlines[1] + BODY_GRACE_S, self._body_timeout)
        elif state is not h11.IDLE:  # DONE, MUST_CLOSE, ERROR: nothing more to wait for
            self._cancel("_header_timer")
            self._cancel("_body_timer")

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._cancel("_body_timer")
            self._arm_header_timer()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel("_header_timer")
        self._cancel("_body_timer")
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._cancel("_header_timer")
        self._header_timer = self.loop.call_later(self._deadlines[0], self._header_timeout)

    def _cancel(self, name: str) -> None:
        timer = getattr(self, name, None)
        if timer is not None:
            timer.cancel()
            setattr(self, name, None)

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # an answer is still being written (a pipelined request waits behind it)
        limit = self._deadlines[0]
        self._close_with_408(
            "header_timeout", f"the request headers did not arrive within {limit:g} s", "service.header_timeout_s", limit
        )

    def _body_timeout(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # answered already (the app's own 408, or an early refusal)
            return
        limit = self._deadlines[1]
        if self.cycle is not None:
            self.cycle.disconnected = True  # the app, if still reading, sees the client gone
            self.cycle.message_event.set()
        self._close_with_408(
            "body_timeout", f"the request body did not arrive within {limit:g} s", "service.body_timeout_s", limit
        )

    def _close_with_408(self, error: str, detail: str, limit: str, value: float) -> None:
        body = json.dumps({"error": error, "detail": detail, "limit": limit, "value": value}).encode()
        head = (
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        # Written raw: h11 cannot send a response to a request it has not fully received.
        self.transport.write(head + body)
        self.transport.close()


def _deadlines(config: Any) -> tuple[float, float]:
    """(header, body) deadlines of the app that ``config`` serves, read once per server config."""
    cached = getattr(config, "_detector_deadlines", None)
    if cached is None:
        svc = _service_config(getattr(config, "loaded_app", None)) or ServiceConfig()
        cached = (float(svc.header_timeout_s), float(svc.body_timeout_s))
        config._detector_deadlines = cached
    return cached


def _service_config(app: Any) -> ServiceConfig | None:
    """The ``ServiceConfig`` of the detector app inside uvicorn's middleware wrappers, if it is one."""
    for _ in range(10):
        state = getattr(getattr(app, "state", None), "service", None)
        if state is not None:
            return state.svc  # type: ignore[no-any-return]
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


def uvicorn_options(svc: ServiceConfig) -> dict[str, Any]:
    """The server settings ``detector serve`` runs with (the tests run the same ones)."""
    return {
        # The h11 protocol keeps reading (and discarding) a body the app refused early, so the client
        # receives its 413; this subclass adds the read deadlines.
        "http": "detector.service_server:DeadlineH11Protocol",
        "limit_concurrency": svc.max_connections,
        "timeout_keep_alive": 5,
    }


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    audit_path: str | Path = DEFAULT_AUDIT_DB,
    catalog: str | Path | None = None,
    config_path: str | Path | None = None,
    log_level: str = "info",
    audit_photos: bool = True,
) -> None:
    """Run the service with uvicorn until interrupted (``detector serve``). Bad settings raise before binding."""
    import sys

    import uvicorn

    from detector.errors import ConfigError
    from detector.service import create_app

    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be in 0..65535, got {port}")
    config = _photos_off(Config.from_file(config_path) if config_path else Config(), audit_photos)
    AuditLog(audit_path).close()  # an unwritable path fails here, not on the first decision
    svc = config.service
    print(
        f"detector serve: http://{host}:{port} ({workers} worker process(es)); audit log {audit_path}; "
        f"limits: {svc.max_images} images, {svc.max_image_bytes} B/image, {svc.max_request_bytes} B/request, "
        f"{svc.time_budget_s:g} s budget, {svc.max_in_flight} in flight + {svc.max_waiting} waiting; "
        f"deadlines: headers {svc.header_timeout_s:g} s, body {svc.body_timeout_s:g} s; "
        f"{svc.max_connections} connections",
        file=sys.stderr,
    )
    options: dict[str, Any] = {"host": host, "port": port, "log_level": log_level, **uvicorn_options(svc)}
    if workers == 1:
        uvicorn.run(create_app(config=config, audit_path=audit_path, catalog=catalog), **options)
        return
    os.environ[_ENV] = json.dumps(
        {
            "audit_path": str(audit_path),
            "catalog": None if catalog is None else str(catalog),
            "config_path": None if config_path is None else str(config_path),
            "audit_photos": audit_photos,
        }
    )
    uvicorn.run("detector.service_server:app_from_env", factory=True, workers=workers, **options)


def app_from_env() -> Any:
    """App factory for ``--workers N`` (uvicorn imports it in each worker process)."""
    from detector.service import create_app

    settings = json.loads(os.environ[_ENV])
    config = Config.from_file(settings["config_path"]) if settings["config_path"] else Config()
    config = _photos_off(config, settings.get("audit_photos", True))
    return create_app(config=config, audit_path=settings["audit_path"], catalog=settings["catalog"])


def _photos_off(config: Config, audit_photos: bool) -> Config:
    """``config`` with ``service.audit_photos`` off when ``--audit-no-photos`` says so (the flag only turns it off)."""
    import dataclasses

    if audit_photos:
        return config
    return dataclasses.replace(config, service=dataclasses.replace(config.service, audit_photos=False))
