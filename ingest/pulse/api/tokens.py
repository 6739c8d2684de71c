"""Who is calling: a bearer JWT verified against the IdP's JWKS, read into the claims Pulse maps.

Signing keys come from the IdP's JWKS (PyJWT's ``PyJWKClient``, cached) and the token must carry the
configured issuer and audience and not be expired. Everything that fails here is a 401; an IdP that
cannot be reached is the API's problem, not the caller's: 503.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
from jwt import PyJWKClient, PyJWKClientConnectionError, PyJWKClientError

from pulse.settings import ApiSettings


class Unauthorized(Exception):
    """The token is missing, malformed, expired, not for us, or not signed by the IdP: 401."""


class IdpUnavailable(Exception):
    """The JWKS could not be fetched: 503, the caller may retry."""


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified caller: ``sub`` and the claim values naming its role and department."""

    subject: str
    roles: tuple[str, ...]
    departments: tuple[str, ...]


def bearer(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <jwt>`` header."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send the IdP's JWT as `Authorization: Bearer <token>`")
    return token.strip()


def claim_values(claims: dict[str, Any], name: str) -> tuple[str, ...]:
    """A claim as a list of strings (IdPs send groups as a list, a custom role claim as a string)."""
    value = claims.get(name)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()


class Verifier:
    """Checks tokens against one IdP: its JWKS, issuer and audience (``settings.api``)."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.keys = PyJWKClient(settings.jwks, cache_keys=True, lifespan=settings.jwks_cache_s, timeout=10)

    def verify(self, token: str) -> Caller:
        """Blocking (the JWKS may be fetched): call it from a worker thread."""
        settings = self.settings
        try:
            key = self.keys.get_signing_key_from_jwt(token)
        except PyJWKClientConnectionError as error:
            raise IdpUnavailable(f"the IdP's signing keys cannot be fetched: {error}") from error
        except (PyJWKClientError, jwt.InvalidTokenError) as error:
            raise Unauthorized(f"token refused: {error}") from error
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=settings.algorithms,
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=settings.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as error:
            raise Unauthorized(f"token refused: {error}") from error
        return Caller(
            subject=str(claims["sub"]),
            roles=claim_values(claims, settings.role_claim),
            departments=claim_values(claims, settings.department_claim),
        )
