"""Bearer-token authentication of the generator's write endpoints (RFC 6750): everything that
produces to Kafka needs ``Authorization: Bearer <settings.generator_token>``; health, the OpenAPI
document, burst status and the read-only dashboard stay open."""

from __future__ import annotations

import hmac

from flask import Request

from carpipe.config import Settings

REALM = "carpipe-generator"


class Unauthorized(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    @property
    def headers(self) -> dict[str, str]:
        challenge = f'Bearer realm="{REALM}"'
        if self.status == 403:
            challenge += ', error="invalid_token"'
        return {"WWW-Authenticate": challenge}


def check(request: Request, settings: Settings) -> None:
    """Raise Unauthorized (401 no credentials, 403 wrong ones) unless the request bears the token."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized(401, "unauthorized", "this endpoint produces to Kafka: send Authorization: Bearer "
                                                "<token> (make urls says where the token is)")
    expected = settings.generator_token
    if not expected or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise Unauthorized(403, "forbidden", "the bearer token is not this generator's write token")
