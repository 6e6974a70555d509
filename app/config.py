"""The page's configuration: its own defaults, overridden by the URL's query parameters."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs

Transport = Literal["eventsource", "fetch"]
TRANSPORTS: tuple[Transport, ...] = ("eventsource", "fetch")
RenderMode = Literal["incremental", "naive"]
RENDER_MODES: tuple[RenderMode, ...] = ("incremental", "naive")


class ConfigError(ValueError):
    """The page's configuration is unusable; the message says why in plain words."""


@dataclass(frozen=True)
class Config:
    endpoint: str = "api/chat"
    transport: Transport = "eventsource"
    stall_timeout: float = 30.0
    #: The back end's `--max-question-chars`: the page counts down to it and refuses longer.
    max_question_chars: int = 4000
    #: Sign-in: a same-origin path that answers `{"token", "expires_in"}` (docs/security.md).
    token_url: str = ""
    #: Origins whose images answers may show (`https://images.example.com`); any other
    #: image is a link, so a model cannot make the page send requests elsewhere.
    image_origins: tuple[str, ...] = ()
    # Benchmark-only switches (bench/): `?render=naive` re-renders the whole answer on every
    # token, with no frame batching, as the baseline; `?measure=1` wraps every DOM update in
    # performance marks ("answer-update" measures).
    render: RenderMode = "incremental"
    measure: bool = False


def load_config(page_json: str, query: str) -> Config:
    """Read the page's JSON configuration, then apply `?endpoint=` and `?transport=`."""
    try:
        page = json.loads(page_json) if page_json.strip() else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"the page's configuration is not valid JSON ({exc.msg}).") from exc
    if not isinstance(page, dict):
        raise ConfigError("the page's configuration must be a JSON object.")
    params = {key: values[-1] for key, values in parse_qs(query.lstrip("?")).items()}
    endpoint = params.get("endpoint", page.get("endpoint", Config.endpoint))
    transport = params.get("transport", page.get("transport", Config.transport))
    stall_timeout = page.get("stallTimeout", Config.stall_timeout)
    if "stallTimeout" in params:  # tests: a silence longer than the stall timeout, quickly
        try:
            stall_timeout = float(params["stallTimeout"])
        except ValueError:
            raise ConfigError("stallTimeout must be a positive number of seconds.") from None
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ConfigError("no endpoint is configured for the chat back end.")
    if "endpoint" in params:
        check_endpoint(endpoint.strip(), _allowed_endpoints(page))
    if transport not in TRANSPORTS:
        raise ConfigError(f"unknown transport {transport!r}: use 'eventsource' or 'fetch'.")
    if not isinstance(stall_timeout, int | float) or stall_timeout <= 0:
        raise ConfigError("stallTimeout must be a positive number of seconds.")
    max_question_chars = page.get("maxQuestionChars", Config.max_question_chars)
    if (
        not isinstance(max_question_chars, int)
        or isinstance(max_question_chars, bool)
        or max_question_chars < 1
    ):
        raise ConfigError("maxQuestionChars must be a positive whole number.")
    token_url = page.get("tokenUrl", Config.token_url)
    token_url = token_url.strip() if isinstance(token_url, str) else token_url
    # Only from the page itself, never the query, and only its own origin: the token provider
    # answers with the reader's credentials (cookies), so it must be the page owner's.
    if not isinstance(token_url, str) or (token_url and not is_same_origin_path(token_url)):
        raise ConfigError(
            f'"tokenUrl" must be a path on this page\'s own site, such as "/auth/token";'
            f" {_shown(str(token_url))} is not."
        )
    image_origins = page.get("imageOrigins", [])
    if not isinstance(image_origins, list) or not all(
        isinstance(origin, str) and _IMAGE_ORIGIN.fullmatch(origin) for origin in image_origins
    ):
        raise ConfigError(
            '"imageOrigins" must be a list of origins such as "https://images.example.com".'
        )
    render = params.get("render", Config.render)
    if render not in RENDER_MODES:
        raise ConfigError(f"unknown render mode {render!r}: use 'incremental' or 'naive'.")
    return Config(
        endpoint=endpoint.strip(),
        transport=transport,
        stall_timeout=float(stall_timeout),
        max_question_chars=max_question_chars,
        token_url=token_url,
        image_origins=tuple(origin.lower().rstrip("/") for origin in image_origins),
        render=render,
        measure=params.get("measure") == "1",
    )


def check_endpoint(endpoint: str, allowed: tuple[str, ...]) -> None:
    """Refuses an `?endpoint=` the page's configuration does not allow.

    A link could otherwise make the page show answers an attacker wrote and, over fetch, send
    them the conversation. Allowed: a path on the page's own origin (`api/chat`,
    `/api/chat?fault=drop:3`), and the endpoints `#chat-config` lists (its `endpoint` and
    `endpoints`), exactly as listed, or with a query of its own (the same back end).
    """
    if endpoint in allowed or endpoint.split("?", 1)[0] in allowed:
        if _SCHEME.match(endpoint) and not endpoint.lower().startswith(("http://", "https://")):
            raise ConfigError(f"the endpoint {_shown(endpoint)} is not an http(s) URL.")
        return
    if is_same_origin_path(endpoint):
        return
    raise ConfigError(
        f"the endpoint {_shown(endpoint)} is not one this page may use; its owner can list it"
        ' under "endpoints" in the page\'s configuration.'
    )


def is_same_origin_path(url: str) -> bool:
    """Whether `url` is a relative reference that stays on the page's origin: a path, with or
    without a query, never a scheme (`data:`, `javascript:`) or a host (`//host`).

    Strict on purpose: browsers read `\\` as `/` and drop tabs and newlines, so
    `/\\evil.example` is `//evil.example`; such characters are refused outright.
    """
    if not url or any(c in url for c in "\\\t\n\r") or not url.isprintable():
        return False
    if url.startswith("//"):
        return False
    # A scheme is letters, digits, `+`, `-`, `.` before the first `:`, ahead of any `/?#`.
    path = re.split(r"[/?#]", url, maxsplit=1)[0]
    return ":" not in path


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_IMAGE_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?/?")


def _allowed_endpoints(page: dict[str, object]) -> tuple[str, ...]:
    listed = page.get("endpoints", [])
    if not isinstance(listed, list) or not all(isinstance(e, str) for e in listed):
        raise ConfigError('"endpoints" must be a list of URLs.')
    own = page.get("endpoint", Config.endpoint)
    endpoints = [own] if isinstance(own, str) else []
    return tuple(e.strip() for e in [*endpoints, *listed])


def _shown(endpoint: str) -> str:
    """The endpoint as the message shows it: short, and without control characters."""
    text = "".join(c if c.isprintable() else "?" for c in endpoint)
    return repr(text if len(text) <= 80 else text[:79] + "…")
