"""The users and groups of the configuration and the users file, as callers.

A user's roles are its own and its groups'; its origins are the union of the
patterns it and its groups set, or every origin when none of them sets any.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter

from vexport.auth.principal import Principal, Role
from vexport.config import AuthConfig, GroupConfig, UserConfig

__all__ = ["Directory", "User"]


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str | None
    token_hashes: frozenset[str]
    roles: frozenset[Role]
    groups: tuple[str, ...]
    origins: tuple[str, ...] | None
    sees_all: bool


class Directory:
    def __init__(self, users: Iterable[UserConfig], groups: Iterable[GroupConfig]) -> None:
        self._groups = {group.name: group for group in groups}
        self._users: dict[str, User] = {}
        self._by_token: dict[str, str] = {}
        self._by_certificate: dict[str, str] = {}
        for config in users:
            for name in config.certificates:
                if self._by_certificate.setdefault(name, config.name) != config.name:
                    raise ValueError(f"certificate name {name!r} is given to two users")
            user = self._user(config)
            if user.name in self._users:
                raise ValueError(f"user {user.name!r} is configured twice")
            self._users[user.name] = user
            for hashed in user.token_hashes:
                if hashed in self._by_token:
                    raise ValueError(f"user {user.name!r}: an API token hash is used twice")
                self._by_token[hashed] = user.name

    @classmethod
    def from_config(cls, config: AuthConfig) -> Directory:
        users = list(config.users)
        groups = list(config.groups)
        if config.users_file is not None:
            more_users, more_groups = _read_users_file(config.users_file)
            users += more_users
            groups += more_groups
        return cls(users, groups)

    def user(self, name: str) -> User | None:
        return self._users.get(name)

    def user_of_token(self, hashed: str) -> User | None:
        name = self._by_token.get(hashed)
        return None if name is None else self._users[name]

    def user_of_certificate(self, names: Iterable[str]) -> User | None:
        """The user a client certificate with these subject names logs in as, if any."""
        for name in names:
            user = self._by_certificate.get(name)
            if user is not None:
                return self._users[user]
        return None

    def principal(
        self,
        user: User,
        *,
        method: str,
        extra_roles: Iterable[Role] = (),
        extra_groups: Iterable[str] = (),
    ) -> Principal:
        return self._principal(user.name, user, method, extra_roles, extra_groups)

    def stranger(
        self, name: str, *, method: str, roles: Iterable[Role], groups: Iterable[str]
    ) -> Principal:
        """A caller vouched for by an identity provider, with or without a user entry."""
        return self._principal(name, self._users.get(name), method, roles, groups)

    def _principal(
        self,
        name: str,
        user: User | None,
        method: str,
        extra_roles: Iterable[Role],
        extra_groups: Iterable[str],
    ) -> Principal:
        roles = set(extra_roles)
        group_names = list(dict.fromkeys([*(user.groups if user else ()), *extra_groups]))
        patterns: list[str] | None = None
        if user is not None:
            roles |= user.roles
            if user.origins is not None:
                patterns = list(user.origins)
        for group_name in group_names:
            group = self._groups.get(group_name)
            if group is None:
                continue
            roles |= {Role(role) for role in group.roles}
            if group.origins is not None:
                patterns = [*(patterns or []), *group.origins]
        return Principal(
            name=name,
            roles=frozenset(roles),
            origins=None if patterns is None else tuple(patterns),
            sees_all=bool(user and user.sees_all),
            groups=tuple(group_names),
            method=method,
        )

    @staticmethod
    def _user(config: UserConfig) -> User:
        return User(
            name=config.name,
            password_hash=(
                config.password_hash.get_secret_value() if config.password_hash else None
            ),
            token_hashes=frozenset(token.get_secret_value() for token in config.tokens),
            roles=frozenset(Role(role) for role in config.roles),
            groups=tuple(config.groups),
            origins=None if config.origins is None else tuple(config.origins),
            sees_all=config.sessions == "all",
        )


_USERS = TypeAdapter(list[UserConfig])
_GROUPS = TypeAdapter(list[GroupConfig])


def _read_users_file(path: Path) -> tuple[list[UserConfig], list[GroupConfig]]:
    """``[[users]]`` and ``[[groups]]`` tables, checked like the configuration's own."""
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    unknown = set(data) - {"users", "groups"}
    if unknown:
        raise ValueError(f"{path.name}: unknown keys {sorted(unknown)}; expected users, groups")
    return _USERS.validate_python(data.get("users", [])), _GROUPS.validate_python(
        data.get("groups", [])
    )
