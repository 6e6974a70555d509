"""No key, token or ticket reaches a log line (server/redact.py)."""

from __future__ import annotations

import io
import logging

import pytest
from uvicorn.logging import AccessFormatter

from server import redact
from server.redact import RedactingFilter

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [redacted]"),
        ("bearer%20tok123", "bearer%20[redacted]"),
        (
            "Incorrect API key provided: sk-proj-AbC123xyz_-9",
            "Incorrect API key provided: sk-[redacted]",
        ),
        (
            "GET /api/chat?q=hi&rid=r1&ticket=eyJh.x.y HTTP/1.1",
            "GET /api/chat?q=hi&rid=r1&ticket=[redacted] HTTP/1.1",
        ),
        (f"token {JWT} refused", "token [redacted] refused"),
        ("?access_token=abc&api_key=def", "?access_token=[redacted]&api_key=[redacted]"),
        ("nothing to hide: rid=r1 fault=drop:3", "nothing to hide: rid=r1 fault=drop:3"),
        ("the configured key is hunter2-key!", "the configured key is [redacted]!"),
    ],
)
def test_credentials_are_redacted(line: str, shown: str) -> None:
    assert RedactingFilter(["hunter2-key"]).redact(line) == shown


def record(msg: str, *args: object, name: str = "server", exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("upstream said: Bearer sk-live-1234567890")
        except RuntimeError:
            import sys

            exc_info = sys.exc_info()
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, exc_info)


def test_arguments_and_tracebacks_are_redacted_too() -> None:
    line = record("upstream answered HTTP %d: %s", 401, "key sk-abcdefghijkl was wrong", exc=True)
    RedactingFilter().filter(line)
    text = logging.Formatter().format(line)
    assert "sk-abcdefghijkl" not in text
    assert "sk-live" not in text
    assert "HTTP 401: key sk-[redacted] was wrong" in text
    assert "RuntimeError" in text


def test_uvicorns_access_log_keeps_working_without_the_ticket() -> None:
    line = record(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5000",
        "GET",
        "/api/chat?q=x&rid=r&ticket=abc.def.ghi",
        "1.1",
        200,
        name="uvicorn.access",
    )
    RedactingFilter().filter(line)
    text = AccessFormatter("%(message)s", use_colors=False).format(line)
    assert text == '127.0.0.1:5000 - "GET /api/chat?q=x&rid=r&ticket=[redacted] HTTP/1.1" 200'


def test_install_covers_every_handler_of_the_root_and_uvicorn_loggers() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        redact.install(["my-configured-api-key"])
        logging.getLogger("server.upstream").warning(
            "proxy echoed %s and Bearer %s", "my-configured-api-key", "tok"
        )
    finally:
        root.removeHandler(handler)
    assert stream.getvalue() == "proxy echoed [redacted] and Bearer [redacted]\n"
