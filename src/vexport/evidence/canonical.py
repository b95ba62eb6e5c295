"""Canonical JSON (RFC 8785 style): the exact bytes a manifest signature covers.

Keys sorted, no whitespace, UTF-8, numbers as ECMAScript prints them. A
verifier that parses a manifest and serialises it again gets the same bytes,
so a manifest can be checked field by field and byte for byte alike. Keys in
vexport's manifests are ASCII, so sorting by code point is RFC 8785's UTF-16
order.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["canonical_json"]


def canonical_json(value: Any) -> bytes:
    """``value`` (dicts, lists, str, int, float, bool, None) as canonical UTF-8 JSON."""
    return _encode(value).encode("utf-8")


def _encode(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = sorted(value.items())
        if any(not isinstance(k, str) for k, _ in items):
            raise TypeError("manifest keys must be strings")
        return "{" + ",".join(f"{_encode(k)}:{_encode(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    raise TypeError(f"not JSON: {type(value).__name__}")


def _number(value: float) -> str:
    """A float as ECMAScript's Number.prototype.toString (RFC 8785 section 3.2.2.3)."""
    if not math.isfinite(value):
        raise ValueError("NaN and infinities have no JSON form")
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that round-trip; take them apart.
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = (
        len(whole.lstrip("0")) if whole.strip("0") else -(len(fraction) - len(fraction.lstrip("0")))
    )
    point += int(exponent or 0)
    digits = digits.rstrip("0") or "0"
    n = point  # the decimal point sits after n digits
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    exp = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{'+' if exp >= 0 else '-'}{abs(exp)}"
