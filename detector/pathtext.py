"""File names as report text: always valid UTF-8, and lossless.

A POSIX file name is bytes. Python decodes one that is not valid UTF-8 with ``surrogateescape``
(byte 0xFF becomes the lone surrogate U+DCFF), and such a string cannot be written as UTF-8 —
a JSONL line, a CSV cell or an HTML page would carry a raw 0xFF byte or fail. Reports write:

* ``path``: the name with each undecodable byte as the four characters ``\\xNN`` (``\\xff``), readable
  and valid; any other lone surrogate as ``\\uXXXX``;
* ``path_bytes``: only when the name is not valid UTF-8, the exact bytes of the name in lowercase hex,
  so a program can open the file again: ``open(bytes.fromhex(record["path_bytes"]), "rb")``.

>>> escape_surrogates("shop/\\udcffbag.jpg")
'shop/\\\\xffbag.jpg'
>>> path_bytes("shop/\\udcffbag.jpg")
'73686f702fff6261672e6a7067'
>>> path_bytes("shop/bag.jpg") is None
True
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["clean_strings", "escape_surrogates", "path_bytes"]


def escape_surrogates(text: str) -> str:
    """``text`` with every lone surrogate written as an escape (``\\xNN`` for an undecodable byte)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join(_escape(c) if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def path_bytes(path: str) -> str | None:
    """The file name's bytes in hex when it is not valid UTF-8 (else None: ``path`` says it exactly)."""
    if escape_surrogates(path) is path:
        return None
    try:
        return os.fsencode(path).hex()
    except UnicodeEncodeError:  # a surrogate that no file name decodes to: only the escaped text exists
        return None


def clean_strings(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings) with every string passed through ``escape_surrogates``."""
    if isinstance(value, str):
        return escape_surrogates(value)
    if isinstance(value, dict):
        return {clean_strings(k): clean_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_strings(v) for v in value]
    return value


def _escape(char: str) -> str:
    code = ord(char)
    # U+DC80..U+DCFF is how surrogateescape spells the undecodable bytes 0x80..0xFF.
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"
