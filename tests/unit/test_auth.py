"""Passwords, tokens, expiry (an injected clock), roles and origin allow-lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vexport.auth.authenticator import Authenticator, WrongCredentials
from vexport.auth.directory import Directory
from vexport.auth.passwords import hash_password, verify_password
from vexport.auth.principal import Action, Role, require
from vexport.auth.tokens import MemorySessionTokens, bearer_token, new_token, token_hash
from vexport.config import AuthConfig
from vexport.errors import PermissionDenied, Unauthenticated

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("scheme", ["argon2", "scrypt"])
def test_password_hashes_check_the_password_and_nothing_else(scheme: str) -> None:
    stored = hash_password("correct horse", scheme)
    assert stored.startswith(f"${scheme}")
    assert "correct horse" not in stored
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horsf")
    assert not verify_password("plain text", "plain text")  # never a plain comparison


def _authenticator(clock: Clock, tmp_path: Path) -> tuple[Authenticator, str]:
    api_token = new_token("vxt_")
    users_file = tmp_path / "users.toml"
    users_file.write_text(
        f"""
[[users]]
name = "carol"
password_hash = '{hash_password("carol pw", "scrypt")}'
roles = ["viewer"]
groups = ["site1"]

[[groups]]
name = "site1"
origins = ["hosts/site1/*"]
"""
    )
    config = AuthConfig.model_validate(
        {
            "enabled": True,
            "users_file": str(users_file),
            "users": [
                {
                    "name": "alice",
                    "password_hash": hash_password("alice pw"),
                    "roles": ["exporter"],
                    "tokens": [token_hash(api_token)],
                },
            ],
            "session_ttl": "10m",
            "renew_window": "1h",
        }
    )
    authenticator = Authenticator(
        Directory.from_config(config),
        MemorySessionTokens(),
        session_ttl=config.session_ttl,
        renew_window=config.renew_window,
        clock=clock,
    )
    return authenticator, api_token


def test_session_tokens_expire_and_renew_within_the_window(tmp_path: Path) -> None:
    clock = Clock()
    auth, _ = _authenticator(clock, tmp_path)
    with pytest.raises(WrongCredentials):
        auth.login("alice", "wrong")
    with pytest.raises(WrongCredentials):
        auth.login("nobody", "alice pw")
    issued = auth.login("alice", "alice pw")
    assert issued.expires_in == 600 and issued.expires_at == NOW + timedelta(minutes=10)
    assert auth.authenticate(issued.token).roles == {Role.EXPORTER}

    clock.now += timedelta(minutes=11)
    with pytest.raises(Unauthenticated, match=r"expired.*RenewSession2"):
        auth.authenticate(issued.token)
    renewed = auth.renew(issued.token)
    assert auth.authenticate(renewed.token).name == "alice"
    with pytest.raises(Unauthenticated):  # the old token is gone with its renewal
        auth.authenticate(issued.token)

    # Renewals never go past the window of the first login.
    clock.now = NOW + timedelta(minutes=55)
    last = auth.renew(renewed.token)
    assert last.expires_at == NOW + timedelta(hours=1)
    clock.now = NOW + timedelta(hours=1, seconds=1)
    with pytest.raises(Unauthenticated, match="cannot be renewed"):
        auth.renew(last.token)

    auth.close(last.token)
    with pytest.raises(Unauthenticated, match="unknown or closed"):
        auth.authenticate(last.token)
    with pytest.raises(Unauthenticated):
        auth.close(last.token)
    assert auth.purge() == 0  # close removed it already


def test_api_tokens_and_origins_of_groups(tmp_path: Path) -> None:
    auth, api_token = _authenticator(Clock(), tmp_path)
    alice = auth.authenticate(api_token)
    assert alice.name == "alice" and alice.method == "token"
    with pytest.raises(Unauthenticated):
        auth.authenticate(new_token("vxt_"))
    with pytest.raises(Unauthenticated):
        auth.authenticate("something else")

    carol = auth.authenticate(auth.login("carol", "carol pw").token)
    assert carol.origins == ("hosts/site1/*",)
    require(carol, Action.LIST)
    require(carol, Action.DOWNLOAD)
    with pytest.raises(PermissionDenied, match="'carol' \\(viewer\\) may not start"):
        require(carol, Action.START)
    assert carol.sees("carol", ["hosts/site1/cam"])
    assert not carol.sees("carol", ["hosts/site2/cam"])
    assert not carol.sees("alice", ["hosts/site1/cam"])  # own sessions only
    with pytest.raises(PermissionDenied, match="origin 'hosts/site2/cam'"):
        require(alice.__class__(**{**alice.__dict__, "origins": ("hosts/site1/*",)}),
                Action.START, ["hosts/site2/cam"])  # fmt: skip


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None
    assert bearer_token("Bearer " + "x" * 10000) is None


@pytest.mark.parametrize("key_set", ["file", "url"])
def test_jwts_of_the_configured_issuer_are_accepted(tmp_path: Path, key_set: str) -> None:
    import json
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from vexport.auth.oidc import JwtVerifier
    from vexport.config import OidcConfig

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    config = AuthConfig.model_validate(
        {"enabled": True, "groups": [{"name": "site1", "origins": ["hosts/site1/*"]}]}
    )
    directory = Directory.from_config(config)
    if key_set == "file":
        oidc = OidcConfig(issuer="https://idp.example", audience="vexport", jwks_file=jwks)
    else:  # the provider's endpoint, over real HTTP
        import functools
        import http.server
        import threading

        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=tmp_path)
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}/jwks.json"
        oidc = OidcConfig(issuer="https://idp.example", audience="vexport", jwks_url=url)
    auth = Authenticator(
        directory,
        MemorySessionTokens(),
        session_ttl=timedelta(hours=1),
        renew_window=timedelta(hours=1),
        jwt=JwtVerifier(oidc, directory),
    )

    def token(signer: Any = key, **claims: Any) -> str:
        body = {
            "iss": "https://idp.example",
            "aud": "vexport",
            "sub": "olga",
            "exp": int(time.time()) + 60,
            "roles": ["exporter", "superuser"],
            "groups": ["site1"],
            **claims,
        }
        return jwt.encode(body, signer, algorithm="RS256", headers={"kid": "k1"})

    olga = auth.authenticate(token())
    assert (olga.name, olga.roles, olga.origins, olga.method) == (
        "olga", {Role.EXPORTER}, ("hosts/site1/*",), "jwt",
    )  # fmt: skip
    for bad, reason in (
        (token(iss="https://other.example"), "wrong issuer"),
        (token(aud="someone-else"), "wrong audience"),
        (token(exp=int(time.time()) - 10), "expired"),
        (token(signer=other), "bad signature"),
    ):
        with pytest.raises(Unauthenticated, match=reason):
            auth.authenticate(bad)
    if key_set == "url":
        httpd.shutdown()
        httpd.server_close()


def test_wrong_passwords_lock_the_user_name_for_a_while(tmp_path: Path) -> None:
    from vexport.auth.authenticator import Locked

    clock = Clock()
    auth, _ = _authenticator(clock, tmp_path)
    auth.max_failures, auth.lockout = 3, timedelta(minutes=5)
    for _ in range(3):
        with pytest.raises(WrongCredentials):
            auth.login("alice", "guess")
    with pytest.raises(Locked, match="try again in 300 s"):
        auth.login("alice", "alice pw")  # even the right password, until the lockout ends
    auth.login("carol", "carol pw")  # other users are not locked
    clock.now += timedelta(minutes=5, seconds=1)
    assert auth.login("alice", "alice pw").principal.name == "alice"
    with pytest.raises(WrongCredentials):  # a success clears the count
        auth.login("alice", "guess")
    auth.login("alice", "alice pw")


def test_the_configuration_refuses_passwords_and_tokens_in_the_clear() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="never the password"):
        AuthConfig.model_validate({"users": [{"name": "a", "password_hash": "hunter2"}]})
    with pytest.raises(ValidationError, match="never the token"):
        AuthConfig.model_validate({"users": [{"name": "a", "tokens": [new_token("vxt_")]}]})
    with pytest.raises(ValidationError, match="unique"):
        AuthConfig.model_validate({"users": [{"name": "a"}, {"name": "a"}]})
