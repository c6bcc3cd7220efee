"""Reading a check request's body for the HTTP service: bounded, streamed, and refused early.

The multipart body is fed to a push parser as it arrives; every limit (request bytes, listing
bytes, image count, bytes per image) is checked as bytes come in, so a body over a limit is
refused at the limit, not after buffering it, whatever ``Content-Length`` claims. Each refusal is
a ``Rejected`` carrying the HTTP status and a JSON body that names the limit and its value.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from detector.config import ServiceConfig
from detector.hooks import ListingError, listing_from_mapping
from detector.types import Listing

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["Form", "Rejected", "budget_exceeded", "limit_error", "parse_listing", "read_form"]

# A part's headers are a few short lines; 8 lines of 4 KiB is python-multipart's own default cap.
MAX_PART_HEADERS = 8
MAX_PART_HEADER_BYTES = 4096 + 128


class Rejected(Exception):
    """A request the service refuses: the HTTP status and the JSON body that says why."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        *,
        limit: str | None = None,
        value: Any = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.limit = limit
        self.value = value
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.error, "detail": self.detail}
        if self.limit is not None:
            body["limit"] = self.limit
            body["value"] = self.value
        body.update(self.extra)
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def limit_error(status: int, error: str, key: str, value: Any, detail: str, **extra: Any) -> Rejected:
    return Rejected(status, error, f"{detail}; the limit is {key} = {value}", limit=key, value=value, **extra)


class Form:
    """A multipart body parsed as it streams in, refusing it the moment a limit is crossed."""

    def __init__(self, boundary: bytes, svc: ServiceConfig, image_bytes: int, image_bytes_key: str) -> None:
        self.svc = svc
        # the per-image byte limit in effect and the config key that sets it
        self.image_bytes, self.image_bytes_key = image_bytes, image_bytes_key
        self.listing: bytes | None = None
        self.images: list[tuple[str | None, bytes]] = []
        self.ended = False
        self._headers: dict[str, str] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._kind: str | None = None
        self._filename: str | None = None
        self._buf = bytearray()
        try:
            self.parser = MultipartParser(
                boundary,
                callbacks={
                    "on_part_begin": self._part_begin,
                    "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
                    "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
                    "on_header_end": self._header_end,
                    "on_headers_finished": self._headers_finished,
                    "on_part_data": self._part_data,
                    "on_part_end": self._part_end,
                    "on_end": self._end,
                },
                max_header_count=MAX_PART_HEADERS,
                max_header_size=MAX_PART_HEADER_BYTES,
            )
        except (FormParserError, ValueError) as exc:
            raise Rejected(400, "malformed_multipart", f"bad multipart boundary: {exc}") from None

    def _part_begin(self) -> None:
        self._headers = {}
        self._kind = None
        self._filename = None
        self._buf = bytearray()

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").strip().lower()] = self._value.decode("latin-1").strip()
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        disposition = self._headers.get("content-disposition")
        if not disposition:
            raise Rejected(400, "malformed_multipart", "a multipart part has no Content-Disposition header")
        kind, params = parse_options_header(disposition)
        name = params.get(b"name")
        if kind != b"form-data" or name is None:
            raise Rejected(
                400,
                "malformed_multipart",
                f"a part's Content-Disposition must be form-data with a name, got {disposition[:80]!r}",
            )
        part = name.decode("utf-8", "replace")
        if part == "listing":
            if self.listing is not None:
                raise Rejected(422, "duplicate_part", "the body has more than one `listing` part; send exactly one")
        elif part == "images":
            if len(self.images) >= self.svc.max_images:
                raise limit_error(
                    413,
                    "too_many_images",
                    "service.max_images",
                    self.svc.max_images,
                    f"the listing has more than {self.svc.max_images} images",
                )
            raw = params.get(b"filename")
            self._filename = raw.decode("utf-8", "replace") if raw is not None else None
        else:
            raise Rejected(
                422, "unknown_part", f"unexpected part {part[:60]!r}; expected one `listing` part and `images` parts"
            )
        self._kind = part

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        size = len(self._buf) + (end - start)
        if self._kind == "listing" and size > self.svc.max_listing_bytes:
            raise limit_error(
                413,
                "listing_too_large",
                "service.max_listing_bytes",
                self.svc.max_listing_bytes,
                f"the listing part is over {self.svc.max_listing_bytes} bytes",
            )
        if self._kind == "images" and size > self.image_bytes:
            raise limit_error(
                413,
                "image_too_large",
                self.image_bytes_key,
                self.image_bytes,
                f"images[{len(self.images)}] is over {self.image_bytes} bytes",
                image=len(self.images),
            )
        self._buf.extend(data[start:end])

    def _part_end(self) -> None:
        if self._kind == "listing":
            self.listing = bytes(self._buf)
        elif self._kind == "images":
            self.images.append((self._filename, bytes(self._buf)))
        self._buf = bytearray()

    def _end(self) -> None:
        self.ended = True


async def read_form(
    request: Request,
    svc: ServiceConfig,
    image_bytes: tuple[int, str],
    deadline: float,
    *,
    body_deadline: float | None = None,
    reserve: Callable[[int], None] | None = None,
) -> Form:
    """Read and parse the body of ``request`` within ``svc``'s limits (``time.monotonic`` deadlines).

    ``deadline`` is the request's time budget; ``body_deadline``, when earlier, is the body's own
    (``service.body_timeout_s``), answered with ``body_timeout``. ``reserve(n)`` is called before each
    chunk of ``n`` bytes is kept, and raises ``Rejected`` when the service holds too many body bytes.
    """
    content_type = request.headers.get("content-type", "")
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise Rejected(
            415,
            "unsupported_media_type",
            f"expected a multipart/form-data body (a `listing` JSON part and `images` file parts), "
            f"got Content-Type {content_type[:80]!r}",
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise Rejected(400, "malformed_multipart", "the multipart Content-Type has no boundary parameter")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Rejected(400, "bad_content_length", f"Content-Length must be a number, got {declared[:40]!r}")
        if int(declared) > svc.max_request_bytes:
            raise limit_error(
                413,
                "request_too_large",
                "service.max_request_bytes",
                svc.max_request_bytes,
                f"the request declares {int(declared)} bytes",
            )
    form = Form(boundary, svc, *image_bytes)
    received = 0
    body_first = body_deadline is not None and body_deadline < deadline
    until = body_deadline if body_first and body_deadline is not None else deadline
    try:
        async with asyncio.timeout(max(0.0, until - time.monotonic())):
            async for chunk in request.stream():
                received += len(chunk)
                # Counted as it arrives: a chunked body, or one longer than its Content-Length says, is cut here.
                if received > svc.max_request_bytes:
                    raise limit_error(
                        413,
                        "request_too_large",
                        "service.max_request_bytes",
                        svc.max_request_bytes,
                        f"the request body is over {svc.max_request_bytes} bytes",
                    )
                if chunk:
                    if reserve is not None:
                        reserve(len(chunk))
                    form.parser.write(chunk)
    except TimeoutError:
        if body_first:
            raise limit_error(
                408,
                "body_timeout",
                "service.body_timeout_s",
                svc.body_timeout_s,
                f"the request body did not arrive within {svc.body_timeout_s:g} s ({received} bytes came)",
                headers={"Connection": "close"},
            ) from None
        raise budget_exceeded(svc, deadline - svc.time_budget_s) from None
    except FormParserError as exc:
        raise Rejected(400, "malformed_multipart", f"the multipart body cannot be parsed: {exc}") from None
    except ClientDisconnect:
        raise Rejected(400, "client_disconnected", f"the client went away after sending {received} bytes") from None
    form.parser.finalize()
    if not form.ended:
        raise Rejected(
            400, "malformed_multipart", f"the multipart body ended after {received} bytes without its closing boundary"
        )
    return form


def parse_listing(form: Form) -> tuple[Listing, list[str]]:
    """The validated listing (images from the file parts) and a label per image."""
    if form.listing is None:
        raise Rejected(
            422, "missing_listing", "the body has no `listing` part: send the listing as JSON in a part named `listing`"
        )
    try:
        data = json.loads(form.listing.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Rejected(400, "invalid_json", f"the listing part is not UTF-8: {exc}") from None
    except RecursionError:
        raise Rejected(400, "invalid_json", "the listing JSON is nested too deeply") from None
    except ValueError as exc:
        raise Rejected(400, "invalid_json", f"the listing part is not valid JSON: {exc}") from None
    if isinstance(data, dict) and "images" in data:
        # Never read paths named by a client: images come only as file parts.
        raise Rejected(
            422,
            "invalid_listing",
            "the listing JSON must not carry `images`; send each image as a file part named `images`",
            field="images",
        )
    names = _names([filename for filename, _ in form.images])
    try:
        listing = listing_from_mapping(data)
    except ListingError as exc:
        raise Rejected(422, "invalid_listing", str(exc), field=exc.field) from None
    return Listing(**{**_fields(listing), "images": tuple(data for _, data in form.images)}), names


def _fields(listing: Listing) -> dict[str, Any]:
    return {k: getattr(listing, k) for k in ("listing_id", "seller_id", "title", "description", "brand", "price")}


def _names(filenames: list[str | None]) -> list[str]:
    """Labels for the images in the answer: the client's file name (base name, printable, short) or images[i]."""
    out: list[str] = []
    for i, raw in enumerate(filenames):
        base = os.path.basename((raw or "").replace("\\", "/"))
        clean = "".join(c for c in base if c.isprintable())[:100].strip()
        label = clean or f"images[{i}]"
        out.append(label if label not in out else f"{label}#{i}")
    return out


def budget_exceeded(svc: ServiceConfig, arrived: float) -> Rejected:
    return limit_error(
        408,
        "time_budget_exceeded",
        "service.time_budget_s",
        svc.time_budget_s,
        f"the listing was not decided within its time budget ({time.monotonic() - arrived:.1f} s since it arrived, "
        "queue wait included): send fewer or smaller images, or retry when the service is less busy",
    )
