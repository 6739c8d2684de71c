"""A throwaway identity provider: an RSA key pair, its JWKS served by a local HTTP server, and tokens it signs.

`pulse bench api` and tests/api need callers the read API trusts without a real IdP: this serves
the public key at ``/.well-known/jwks.json`` exactly as an IdP does, so the API's JWKS fetching,
caching and signature checks run unchanged. Never for production: the key lives in memory only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

AUDIENCE = "pulse-api"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Idp:
    issuer: str
    key: rsa.RSAPrivateKey
    kid: str = "test-key-1"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"

    def token(
        self,
        sub: str,
        groups: list[str] | None = None,
        *,
        ttl_s: float = 300,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {"iss": self.issuer, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + int(ttl_s), **claims}
        if groups is not None:
            payload["groups"] = groups
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})


def jwks(key: rsa.RSAPrivateKey, kid: str) -> bytes:
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return json.dumps({"keys": [{**public, "kid": kid, "use": "sig", "alg": "RS256"}]}).encode()


@contextmanager
def serve_idp() -> Iterator[Idp]:
    """The JWKS at ``/.well-known/jwks.json`` on a free loopback port, for as long as the block runs."""
    key = new_key()
    body = jwks(key, "test-key-1")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/.well-known/jwks.json":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Idp(issuer=f"http://127.0.0.1:{server.server_address[1]}", key=key)
    finally:
        server.shutdown()
        server.server_close()
