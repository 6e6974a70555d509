"""Sign-in for the chat API: short-lived HMAC-signed access tokens, and one-time tickets.

An access token is a JWT (RFC 7519) signed with HS256 under the server's secret
(`--require-token`), with a `sub` (who) and an `exp` (until when, Unix seconds); any JWT
library can make one, and `python -m server.auth issue` does. It travels in an
`Authorization: Bearer` header, never in a URL.

An EventSource cannot send headers, so `POST /api/ticket` (with the token) returns a
ticket: also signed, good for `ticket_seconds` and for one request only, sent as
`&ticket=` on the GET. A ticket in an access log is spent or expired by the time anyone
reads it. docs/security.md describes the protocol for the page.

Each answer belongs to the subject who asked it: its rid is kept under a name derived from
the subject (`owned_rid`), so another subject's rid is simply not there, and "not yours"
looks exactly like "does not exist".
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

#: Seconds a token's `exp` and `nbf` may be off, for clocks that differ a little.
LEEWAY = 30.0
#: Longest subject accepted, in characters.
MAX_SUBJECT = 200
_HEADER = {"alg": "HS256", "typ": "JWT"}
_TICKET_TYPE = "ticket"


class Unauthorized(Exception):
    """No valid credentials; the message says why, for a 401 (never which part was wrong
    beyond what the holder of the token may know)."""


@dataclass(frozen=True)
class Ticket:
    """A verified ticket: whose it is, and the nonce that makes it usable once."""

    subject: str
    nonce: str
    expires: float


class TokenAuthority:
    """Issues and checks tokens and tickets under one secret; `now` is Unix time."""

    def __init__(self, secret: str, now: Callable[[], float] = time.time) -> None:
        if not secret:
            raise ValueError("the token secret must not be empty")
        self._key = secret.encode()
        self._now = now

    def issue(self, subject: str, ttl: float) -> str:
        """An access token for `subject`, valid for `ttl` seconds from now."""
        now = self._now()
        return self._sign({"sub": subject, "iat": int(now), "exp": int(now + ttl)})

    def subject(self, token: str) -> str:
        """The subject of a valid access token; raises Unauthorized."""
        claims = self._verify(token)
        if claims.get("typ") == _TICKET_TYPE:
            raise Unauthorized("A ticket is not an access token.")
        return _subject_of(claims)

    def issue_ticket(self, subject: str, ttl: float) -> str:
        """A one-time ticket for `subject`, valid for `ttl` seconds: its text."""
        now = self._now()
        nonce = secrets.token_urlsafe(16)
        claims = {"sub": subject, "exp": now + ttl, "typ": _TICKET_TYPE, "jti": nonce}
        return self._sign(claims)

    def ticket(self, text: str) -> Ticket:
        """A valid (signed, unexpired) ticket; whether it was used already is the store's
        to say (EventStore.spend_ticket). Raises Unauthorized."""
        claims = self._verify(text)
        nonce = claims.get("jti")
        expires = claims.get("exp")
        if claims.get("typ") != _TICKET_TYPE or not isinstance(nonce, str):
            raise Unauthorized("An access token is not a ticket.")
        assert isinstance(expires, int | float)
        return Ticket(_subject_of(claims), nonce, float(expires))

    def owned_rid(self, subject: str, rid: str) -> str:
        """The name `rid` is kept under for `subject`: another subject's is another name."""
        tag = hmac.new(self._key, b"owner:" + subject.encode(), hashlib.sha256).hexdigest()
        return f"{tag[:16]}.{rid}"

    def _sign(self, claims: dict[str, object]) -> str:
        signing_input = f"{_b64(_json(_HEADER))}.{_b64(_json(claims))}"
        signature = hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def _verify(self, token: str) -> dict[str, object]:
        parts = token.split(".")
        if len(parts) != 3 or len(token) > 4096:
            raise Unauthorized("The access token is malformed.")
        header_part, claims_part, signature_part = parts
        expected = hmac.new(
            self._key, f"{header_part}.{claims_part}".encode(), hashlib.sha256
        ).digest()
        try:
            signature = _unb64(signature_part)
            header = json.loads(_unb64(header_part))
            claims = json.loads(_unb64(claims_part))
        except (ValueError, binascii.Error):
            raise Unauthorized("The access token is malformed.") from None
        # The signature first, in constant time; then nothing but HS256 (no "none", no RS256
        # with the secret taken for a public key).
        if not hmac.compare_digest(signature, expected):
            raise Unauthorized("The access token's signature is not valid.")
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise Unauthorized("The access token must be signed with HS256.")
        if not isinstance(claims, dict):
            raise Unauthorized("The access token is malformed.")
        now = self._now()
        expires = claims.get("exp")
        if not _is_number(expires):
            raise Unauthorized("The access token has no expiry.")
        assert isinstance(expires, int | float)
        if now > expires + LEEWAY:
            raise Unauthorized("The access token has expired; please sign in again.")
        not_before = claims.get("nbf")
        valid_from = not_before if isinstance(not_before, int | float) else None
        if _is_number(not_before) and valid_from is not None and now + LEEWAY < valid_from:
            raise Unauthorized("The access token is not valid yet.")
        return claims


def resolve_secret(value: str, environ: Mapping[str, str]) -> str:
    """A secret given on the command line: `env:NAME` reads it from the environment (so that
    it does not show in the process list), anything else is the secret itself."""
    if value.startswith("env:"):
        name = value.removeprefix("env:")
        secret = environ.get(name, "")
        if not secret:
            raise ValueError(f"the environment variable {name} is not set")
        return secret
    return value


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _subject_of(claims: dict[str, object]) -> str:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT:
        raise Unauthorized("The access token names no subject.")
    return subject


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or any(c not in _B64_CHARS for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m server.auth issue --secret S --sub alice --ttl 600`: prints a token."""
    parser = argparse.ArgumentParser(prog="python -m server.auth", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    issue = commands.add_parser("issue", help="print an access token")
    issue.add_argument(
        "--secret", required=True, help="the server's --require-token secret (or env:VAR)"
    )
    issue.add_argument("--sub", required=True, help="who the token is for")
    issue.add_argument("--ttl", type=float, default=600.0, help="seconds it is valid (600)")
    args = parser.parse_args(argv)
    if not 0 < args.ttl <= 86_400:
        parser.error("--ttl must be more than 0 and at most 86400")
    if not 0 < len(args.sub) <= MAX_SUBJECT:
        parser.error(f"--sub must be 1 to {MAX_SUBJECT} characters")
    try:
        secret = resolve_secret(args.secret, os.environ)
    except ValueError as error:
        parser.error(str(error))
    sys.stdout.write(TokenAuthority(secret).issue(args.sub, args.ttl) + "\n")


if __name__ == "__main__":
    main()
