"""C2PA content credentials (placeholder until the embedding lands)."""

from __future__ import annotations


def describe(name: str, content: bytes, trust: bytes | None) -> str:
    return ""
