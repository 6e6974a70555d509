"""Keys, tokens and tickets taken out of every log line, whoever logs it.

A logging filter on the handlers (not on loggers: a logger's filters do not see the records
its children propagate), so uvicorn's access log, httpx's and our own lines all pass it. It
rewrites the message, each of its arguments, and the traceback text (a formatter that finds
`exc_text` set uses it rather than formatting the exception again).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

REDACTED = "[redacted]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization headers, and anything that calls itself a bearer token.
    (re.compile(r"(?i)\b(bearer)(\s+|%20|\+)[A-Za-z0-9._~+/=-]+"), rf"\1\2{REDACTED}"),
    # OpenAI-style keys (sk-…, sk-proj-…) and Anthropic's (sk-ant-…).
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), f"sk-{REDACTED}"),
    # JWTs: three base64url parts, the first a JSON header ("eyJ" is `{"`).
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # Credentials in query strings and form bodies: ?ticket=…, &access_token=…, &api_key=….
    (
        re.compile(
            r"(?i)\b(ticket|token|access_token|id_token|api[_-]?key|key|secret|password)=[^&\s\"'%][^&\s\"']*"
        ),
        rf"\1={REDACTED}",
    ),
)


class RedactingFilter(logging.Filter):
    """Replaces credentials in a record's message and traceback with `[redacted]`.

    `secrets` are literal values to hide as well (the configured API key, the token secret),
    wherever they appear and whatever they look like.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        # Longest first, so that a secret containing another is hidden whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        # The arguments are redacted one by one rather than merged into the message: some
        # formatters (uvicorn's access log) read them by position.
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        else:
            record.msg = self.redact(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(self._argument(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: self._argument(arg) for key, arg in record.args.items()}
        if record.args and record.name not in POSITIONAL:
            # A credential split between the message and an argument ("Bearer %s"): only
            # the whole line shows it, so the whole line is what the record keeps.
            try:
                whole = record.getMessage()
            except (TypeError, ValueError):
                whole = None
            if whole is not None and self.redact(whole) != whole:
                record.msg, record.args = self.redact(whole), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True

    def _argument(self, value: object) -> object:
        if value is None or isinstance(value, bool | int | float):
            return value  # for %d and %f, and nothing to hide
        return self.redact(value if isinstance(value, str) else str(value))


#: Loggers whose formatters read the record's arguments by position: they keep them.
POSITIONAL = frozenset({"uvicorn.access"})
#: Loggers that have handlers of their own (uvicorn's), besides the root logger.
LOGGERS_WITH_HANDLERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


def install(secrets: Iterable[str | None] = ()) -> RedactingFilter:
    """Adds one RedactingFilter to every handler of the root and uvicorn loggers (after
    logging is configured: handlers added later are not covered)."""
    redacting = RedactingFilter(secrets)
    for name in LOGGERS_WITH_HANDLERS:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(redacting)
    return redacting
