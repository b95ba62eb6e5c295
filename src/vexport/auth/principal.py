"""The caller of the current request and what its roles allow: one decision, one place.

The protocol adapters set the caller for the duration of a call
(``acting_as``); the job service asks ``current()`` and ``require``s what
it is about to do. ``None`` is the open service (authentication off, or a
process's own work such as the timers): everything is allowed. A context
variable carries it because it follows the call into ``asyncio.to_thread``
and never leaks into another request's task.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase

from vexport.errors import PermissionDenied

__all__ = [
    "Action",
    "Principal",
    "Role",
    "acting_as",
    "client_address",
    "current",
    "require",
]


class Role(StrEnum):
    VIEWER = "viewer"
    EXPORTER = "exporter"
    ADMIN = "admin"


class Action(StrEnum):
    LIST = "list"
    STATE = "state"
    DOWNLOAD = "download"
    START = "start"
    STOP = "stop"
    DESTROY = "destroy"


_GRANTS: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.LIST, Action.STATE, Action.DOWNLOAD}),
    Role.EXPORTER: frozenset(Action),
    Role.ADMIN: frozenset(Action),
}
"""Exporters may do everything to their own sessions; admins to everyone's."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``origins`` are glob patterns of the origins it may export and see (``None``:
    all); ``sees_all`` lets a non-admin see (list, poll, download) other users'
    sessions within those origins; only admins stop or destroy them.
    """

    name: str
    roles: frozenset[Role]
    origins: tuple[str, ...] | None = None
    sees_all: bool = False
    groups: tuple[str, ...] = ()
    # How the caller proved who it is: "password", "token", "session", "jwt".
    method: str = "session"

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    def may(self, action: Action) -> bool:
        return any(action in _GRANTS[role] for role in self.roles)

    def allows_origin(self, origin: str) -> bool:
        if self.origins is None:
            return True
        return any(fnmatchcase(origin, pattern) for pattern in self.origins)

    def sees(self, owner: str | None, origins: Iterable[str]) -> bool:
        """Whether a session of ``owner`` over ``origins`` exists for this caller."""
        if not all(self.allows_origin(origin) for origin in origins):
            return False
        return self.is_admin or self.sees_all or owner == self.name

    def controls(self, owner: str | None) -> bool:
        """Whether it may stop or destroy a session of ``owner``."""
        return self.is_admin or owner == self.name


_current: ContextVar[Principal | None] = ContextVar("vexport_principal", default=None)
_client: ContextVar[str] = ContextVar("vexport_client", default="")


def current() -> Principal | None:
    """The caller of this request; None when nothing is checked (open service, timers)."""
    return _current.get()


def client_address() -> str:
    """The peer address of this request ("" outside a request)."""
    return _client.get()


@contextmanager
def acting_as(principal: Principal | None, client: str = "") -> Iterator[None]:
    principal_token = _current.set(principal)
    client_token = _client.set(client)
    try:
        yield
    finally:
        _current.reset(principal_token)
        _client.reset(client_token)


def require(principal: Principal | None, action: Action, origins: Iterable[str] = ()) -> None:
    """Raise ``PermissionDenied`` unless ``principal`` may ``action`` on ``origins``."""
    if principal is None:
        return
    if not principal.may(action):
        roles = ", ".join(sorted(principal.roles)) or "no role"
        raise PermissionDenied(f"user {principal.name!r} ({roles}) may not {action.value} sessions")
    for origin in origins:
        if not principal.allows_origin(origin):
            raise PermissionDenied(f"user {principal.name!r} may not export origin {origin!r}")
