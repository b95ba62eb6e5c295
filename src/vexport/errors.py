"""Domain errors, one per answer a client can act on.

The API adapters map each class to a gRPC status or an HTTP code; the domain
never imports either protocol. Messages name the field and the reason.
"""

from __future__ import annotations


class VexportError(Exception):
    """Base class: ``str(error)`` is the message shown to the client."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
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


class Unavailable(VexportError):
    """A part the request needs (an archive's storage) cannot be reached now; retry later."""
