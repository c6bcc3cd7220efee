"""The service's OpenAPI description: the request body, and a schema for every answer.

Each schema says what the service really does, because a live fuzz (schemathesis, in the tests)
checks every answer against it: the decision's shape, the error body, which statuses exist. The
identifier patterns mirror ``hooks.listing_from_mapping`` (no control characters, at most 256
characters), so a listing the schema calls valid is one the service accepts.
"""

from __future__ import annotations

from typing import Any

from detector.config import ServiceConfig
from detector.hooks import MAX_ID_CHARS

__all__ = ["CHECK_DESCRIPTION", "ERROR_SCHEMA", "check_request_body", "check_responses", "readyz_responses"]

CHECK_DESCRIPTION = """\
Multipart body: one `listing` part (JSON: `listing_id` required; `seller_id`, `title`, `description`,
`brand`, `price` optional) and zero or more `images` file parts (JPEG, PNG, WebP, GIF, BMP, TIFF).

The answer is the listing decision (`allow` | `review` | `block`), its risk, the brands seen, the flags
with the image each came from, per-image reports, the versions that made it and timings, plus the
`audit_id` of the record committed before the answer was sent. Refusals are JSON bodies with `error`,
`detail`, and for a limit `limit` and `value`.

```
curl -F 'listing={"listing_id":"L-1","seller_id":"s-9","brand":"Nike","title":"Nike tee"};type=application/json' \\
     -F images=@examples/genuine_nike.jpg http://127.0.0.1:8080/v1/listings/check
```
"""

# No C0 control character or DEL (ids and brands end up in logs and the audit log); at least one character.
_IDENTIFIER = {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": "^[^\\u0000-\\u001f\\u007f]+$"}
# seller_id and brand may be empty ("" is no brand) or null.
_NULLABLE_IDENTIFIER = {**_IDENTIFIER, "type": ["string", "null"], "minLength": 0, "pattern": "^[^\\u0000-\\u001f\\u007f]*$"}
_NULLABLE_TEXT = {"type": ["string", "null"]}
_BOX = {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}
_NUMBERS = {"type": "object", "additionalProperties": {"type": "number"}}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_DECISION = {"type": "string", "enum": ["allow", "review", "block"]}
_UNIT = {"type": "number", "minimum": 0, "maximum": 1}

_BRAND = {
    "type": "object",
    "required": ["name", "confidence", "evidence"],
    "properties": {"name": {"type": "string"}, "confidence": _UNIT, "evidence": {"type": "array", "items": {"type": "string"}}},
}
_FLAG = {
    "type": "object",
    "required": ["rule", "severity", "brand", "message", "evidence"],
    "properties": {
        "rule": {"type": "string", "minLength": 1},
        "severity": {"type": "string", "enum": ["info", "review", "block"]},
        "brand": {"type": ["string", "null"]},
        "message": {"type": "string"},
        "evidence": {"type": "array", "items": {"type": "string"}},
    },
}
_IMAGE_REPORT = {
    "type": "object",
    "required": ["path", "ok", "error", "decision", "risk", "brands", "logos", "texts", "flags", "timings_ms"],
    "properties": {
        "path": {"type": "string"},
        "ok": {"type": "boolean"},
        "error": {"type": ["string", "null"]},
        "decision": {**_DECISION, "type": ["string", "null"], "enum": ["allow", "review", "block", None]},
        "risk": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "brands": {"type": "array", "items": _BRAND},
        "logos": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["brand", "score", "box"],
                "properties": {"brand": {"type": "string"}, "score": {"type": "number"}, "box": _BOX},
            },
        },
        "texts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["text", "confidence"],
                "properties": {
                    "text": {"type": "string"},
                    "confidence": _UNIT,
                    # the OCR's second, surer reading of a doubtful span, when it disagreed with the first
                    "alternatives": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "flags": {"type": "array", "items": _FLAG},
        "timings_ms": _NUMBERS,
        "stages": _STRINGS,
        "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "size": {"type": ["array", "null"], "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2},
    },
}
DECISION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["listing_id", "decision", "risk", "brands", "flags", "images", "versions", "timings_ms", "audit_id"],
    "additionalProperties": False,
    "properties": {
        "listing_id": _IDENTIFIER,
        "decision": _DECISION,
        "risk": _UNIT,
        "brands": {"type": "array", "items": _BRAND},
        "flags": {"type": "array", "items": _FLAG},
        "images": {"type": "array", "items": _IMAGE_REPORT},
        "versions": _STRINGS,
        "timings_ms": _NUMBERS,
        "audit_id": {"type": "integer", "minimum": 1},
    },
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "a stable code: queue_full, image_too_large, invalid_listing, …"},
        "detail": {"type": "string", "description": "what was wrong and what to do, in words"},
        "limit": {"type": "string", "description": "the config key of the limit that was hit, e.g. service.max_images"},
        "value": {"description": "that limit's value"},
        "field": {"type": ["string", "null"], "description": "the listing field at fault (invalid_listing)"},
        "image": {"type": "integer", "description": "the index of the image at fault"},
    },
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "string"}}}


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}, **extra}


def check_request_body(svc: ServiceConfig) -> dict[str, Any]:
    """``openapi_extra`` of the check endpoint: its multipart body, with the listing's JSON schema."""
    listing = {
        "type": "object",
        "required": ["listing_id"],
        "additionalProperties": False,
        "description": f"the listing as JSON, at most {svc.max_listing_bytes} bytes",
        "properties": {
            "listing_id": _IDENTIFIER,
            "seller_id": _NULLABLE_IDENTIFIER,
            "brand": _NULLABLE_IDENTIFIER,
            "title": _NULLABLE_TEXT,
            "description": _NULLABLE_TEXT,
            "price": {"type": ["number", "null"], "minimum": 0},
        },
        "example": {"listing_id": "L-1", "seller_id": "s-9", "brand": "Nike", "title": "Nike tee", "price": 20.0},
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["listing"],
                        "additionalProperties": False,  # any other part is a 422 unknown_part
                        "properties": {
                            "listing": listing,
                            "images": {
                                "type": "array",
                                "maxItems": svc.max_images,
                                "items": {"type": "string", "format": "binary"},
                                "description": f"at most {svc.max_images} images (JPEG, PNG, WebP, GIF, BMP, TIFF) "
                                f"of at most {svc.max_image_bytes} bytes each; any other bytes are a 422",
                            },
                        },
                    },
                    "encoding": {"listing": {"contentType": "application/json"}},
                }
            },
        }
    }


def check_responses() -> dict[int | str, dict[str, Any]]:
    """Every status the check endpoint answers, each with its body's schema."""
    return {
        200: {
            "description": "the decision, committed to the audit log before it was sent",
            "headers": {"X-Audit-Id": {"description": "the audit record's id", "schema": {"type": "string"}}},
            "content": {"application/json": {"schema": DECISION_SCHEMA}},
        },
        400: _error("malformed multipart body or listing JSON, or the client went away mid-body"),
        408: _error("the time budget (service.time_budget_s) or the body deadline (service.body_timeout_s) ran out"),
        413: _error(
            "a size limit was crossed: service.max_request_bytes, service.max_listing_bytes, service.max_images, "
            "service.max_image_bytes (or limits.max_file_bytes) or limits.max_pixels; `limit` and `value` say which"
        ),
        415: _error("the body is not multipart/form-data"),
        422: _error("the listing's fields (`field` names which) or an image (`image` gives its index) are invalid"),
        500: _error("an internal error (a bug): counted in the metrics, never a decision"),
        503: _error(
            "queue full, body bytes at their cap, models loading or failed, or the audit log unavailable; "
            "see Retry-After",
            headers=_RETRY_AFTER,
        ),
    }


def readyz_responses() -> dict[int | str, dict[str, Any]]:
    ready = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ready", "loading", "failed"]},
                       "versions": _STRINGS, "error": {"type": "string"}},
    }
    return {
        200: {"description": "the models are loaded", "content": {"application/json": {"schema": ready}}},
        503: {"description": "still loading, or failed", "content": {"application/json": {"schema": ready}}},
    }
