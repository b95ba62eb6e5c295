"""Keeping secrets out of messages and logs.

Archive and camera URLs often carry credentials: userinfo (``rtsp://admin:pw@``),
signed query strings (``X-Amz-Signature``), SRT passphrases. Every message
that names a URL shows it through here, so there is one rule to get right.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_PARAM = re.compile(r"pass|secret|token|key|auth|sig|cred", re.IGNORECASE)
_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")


def redact_url(url: str, *, keep_query: bool = False) -> str:
    """``url`` without userinfo and fragment, safe for messages and logs.

    The query is dropped, unless ``keep_query``: then it stays with the values of
    secret-looking parameters masked (live URLs such as
    ``srt://host?mode=caller&passphrase=…`` need their options to be recognisable).
    Plain paths and ``lavfi:`` graphs are returned as they are.
    """
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub(r"\1", url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = ""
    if keep_query and parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*/:"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_text(text: str, url: str) -> str:
    """Text that may quote ``url`` (FFmpeg's messages do), with its credentials removed."""
    if url and "://" in url:
        text = text.replace(url, redact_url(url, keep_query=True))
    return _USERINFO.sub(r"\1", text)


_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def without_locations(text: str) -> str:
    """Text for a client, each URL in it cut to its last path part (``…/seg00001.ts``).

    Where a camera's archive lives (a server path, an internal host, a bucket)
    is the operator's business; which segment failed is the client's.
    """

    def name(match: re.Match[str]) -> str:
        path = urlsplit(match.group(0)).path.rstrip("/")
        last = path.rsplit("/", 1)[-1]
        return f"…/{last}" if last else "…"

    return _URL.sub(name, text)
