"""Bearer tokens that are JWTs from a site's identity provider (OIDC), checked with PyJWT.

The token must be signed by a key of the configured key set (a JWKS URL,
fetched and cached, or a file), with the configured issuer (and audience) and
not expired. The user is the ``user_claim``; roles come from ``roles_claim``
(the known ones: viewer, exporter, admin) and from the configured groups
named in ``groups_claim`` and, if the user is also configured, its own.
Called from a thread (the key set may be fetched).
"""

from __future__ import annotations

from typing import Any

import jwt

from vexport.auth.directory import Directory
from vexport.auth.principal import Principal, Role
from vexport.config import OidcConfig
from vexport.errors import Unauthenticated

__all__ = ["JwtVerifier"]

_ROLES = {role.value: role for role in Role}


class JwtVerifier:
    def __init__(self, config: OidcConfig, directory: Directory) -> None:
        self.config = config
        self.directory = directory
        self._keys: jwt.PyJWKSet | None = None
        self._client: jwt.PyJWKClient | None = None
        if config.jwks_file is not None:
            self._keys = jwt.PyJWKSet.from_json(config.jwks_file.read_text())
        else:
            assert config.jwks_url is not None
            self._client = jwt.PyJWKClient(config.jwks_url, cache_keys=True, lifespan=300)

    def __call__(self, token: str) -> Principal:
        config = self.config
        try:
            key = self._key(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=config.algorithms,
                audience=config.audience,
                issuer=config.issuer,
                options={"require": ["exp", "iss"], "verify_aud": config.audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the JWT is not accepted: {_reason(exc)}") from None
        name = claims.get(config.user_claim)
        if not isinstance(name, str) or not name:
            raise Unauthenticated(f"the JWT has no {config.user_claim!r} claim")
        roles = [_ROLES[r] for r in _strings(claims.get(config.roles_claim)) if r in _ROLES]
        groups = _strings(claims.get(config.groups_claim))
        return self.directory.stranger(name[:255], method="jwt", roles=roles, groups=groups)

    def _key(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        assert self._keys is not None
        kid = jwt.get_unverified_header(token).get("kid")
        for candidate in self._keys.keys:
            if kid is None or candidate.key_id == kid:
                return candidate.key
        raise jwt.InvalidKeyError("no key of the key set has this token's kid")


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _reason(exc: jwt.PyJWTError) -> str:
    """PyJWT's reason in a few words; never the token."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "it has expired"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong audience"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad signature"
    return type(exc).__name__
