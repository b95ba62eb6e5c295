"""Domain errors, one per answer a client can act on.

The API adapters map each class to a gRPC status or an HTTP code; the domain
never imports either protocol. Messages name the field and the reason.
"""

from __future__ import annotations

__all__ = [
    "MAX_MESSAGE",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "ResourceExhausted",
    "Unavailable",
    "Unimplemented",
    "VexportError",
    "bounded",
    "shown",
]

# Longest message a client is sent: gRPC carries it in a trailer (16 KiB limit, and a
# client over it gets RESOURCE_EXHAUSTED instead of the real status).
MAX_MESSAGE = 2000
# Longest echo of a client's own value (a session id, a file path) in a message.
MAX_ECHO = 64


def shown(value: str) -> str:
    """A client's value as a message quotes it: repr'd and cut to ``MAX_ECHO`` characters."""
    return repr(value if len(value) <= MAX_ECHO else value[:MAX_ECHO] + "…")


def bounded(message: str) -> str:
    """A message cut to ``MAX_MESSAGE`` characters."""
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


class VexportError(Exception):
    """Base class: ``str(error)`` is the message shown to the client."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(bounded(f"{field}: {message}" if field else message))
        self.field = field


class InvalidArgument(VexportError):
    """The request is malformed: missing, out of range or contradictory values."""


class NotFound(VexportError):
    """An unknown session, origin, storage, agent or file."""


class FailedPrecondition(VexportError):
    """The request is valid but not now (for example downloading an unfinished session)."""


class Unimplemented(VexportError):
    """An option of the contract that vexport does not support (yet)."""


class ResourceExhausted(VexportError):
    """A queue is full; try again later."""


class Unauthenticated(VexportError):
    """No credentials, or credentials that are unknown, expired or closed."""


class PermissionDenied(VexportError):
    """The caller is known but its roles or origins do not allow the call."""


class Unavailable(VexportError):
    """A part the server needs (its database, its disk, an archive's storage) cannot serve
    now; try again later."""

    # The cause is a full disk (the store may make room for a write that must not fail).
    disk_full: bool = False
