"""Command line: `python -m server` serves the page and the chat endpoint with uvicorn."""

from __future__ import annotations

import argparse
import logging
import math
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from server import redact
from server.app import create_app
from server.auth import resolve_secret
from server.faults import FaultyChat
from server.headers import origin_of
from server.settings import REPO_ROOT, Settings


@dataclass(frozen=True)
class Bounds:
    """The values a numeric flag accepts: `low` to `high` (`low` itself unless `above`)."""

    low: float
    high: float = math.inf
    above: bool = False

    def __contains__(self, value: float) -> bool:
        # Written so that NaN is never inside.
        return (self.low < value if self.above else self.low <= value) and value <= self.high

    def requirement(self) -> str:
        if self.high != math.inf:
            return f"must be {self.low:g} to {self.high:g}"
        if self.low == 0:
            return "must be positive" if self.above else "must not be negative"
        return f"must be at least {self.low:g}"


POSITIVE = Bounds(0, above=True)
NOT_NEGATIVE = Bounds(0)


def parse_args(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> argparse.Namespace:
    """The command line's arguments; `environ` (default: the process's) for `env:` secrets."""
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    bounded: list[tuple[argparse.Action, Bounds]] = []

    def number(
        group: argparse._ActionsContainer,
        flag: str,
        kind: type[int] | type[float],
        default: float | None,
        metavar: str | None,
        bounds: Bounds,
        help: str,
    ) -> None:
        """A numeric flag, refused outside `bounds` (checked once every flag is read)."""
        action = group.add_argument(flag, type=kind, default=default, metavar=metavar, help=help)
        bounded.append((action, bounds))

    def origins(group: argparse._ActionsContainer, flag: str, dest: str, help: str) -> None:
        """A flag that takes origins, as many as wanted, and may be given again."""
        group.add_argument(
            flag, dest=dest, action="extend", nargs="+", default=[], metavar="ORIGIN", help=help
        )

    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument(
        "--root", type=Path, default=REPO_ROOT, help="directory with index.html (default: repo)"
    )
    origins(
        parser, "--cors-origin", "cors_origins", "allow this origin to call the API (repeatable)"
    )
    number(parser, "--pace", float, 0.03, None, NOT_NEGATIVE, "seconds per offline token")
    parser.add_argument("--upstream", metavar="URL", help="OpenAI-compatible base URL, e.g. …/v1")
    parser.add_argument("--model", metavar="NAME", help="model name for --upstream")
    parser.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        metavar="VAR",
        help="environment variable holding the upstream API key (default: OPENAI_API_KEY)",
    )
    prompt = parser.add_mutually_exclusive_group()
    prompt.add_argument(
        "--system-prompt", metavar="TEXT", help="system message sent first with every question"
    )
    prompt.add_argument(
        "--system-prompt-file",
        type=Path,
        metavar="PATH",
        help="read the system message from this UTF-8 file",
    )
    number(
        parser, "--temperature", float, None, "T", Bounds(0, 2),
        "the model's sampling temperature, 0 to 2 (default: the model's own)",
    )  # fmt: skip
    number(
        parser, "--max-tokens", int, None, "N", POSITIVE,
        "tokens the model may write per answer at most (default: the model's own)",
    )  # fmt: skip
    number(
        parser, "--history-turns", int, 20, "N", NOT_NEGATIVE,
        "earlier turns given to the model at most; older ones are dropped first (default: 20)",
    )  # fmt: skip
    number(
        parser, "--history-chars", int, 24_000, "N", NOT_NEGATIVE,
        "characters of earlier turns given to the model at most (default: 24000)",
    )  # fmt: skip
    number(
        parser, "--history-ttl", float, 86_400.0, "S", POSITIVE,
        "seconds the server keeps a conversation's turns for follow-up questions"
        " (default: 86400)",
    )  # fmt: skip
    number(
        parser, "--ping-interval", float, 5.0, "S", Bounds(0.2, 60),
        "seconds of silence after which a heartbeat event is sent (default: 5)",
    )  # fmt: skip
    parser.add_argument(
        "--faults", action="store_true", help="honour the `fault` query parameter (tests only)"
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        help="keep answers in this Redis (redis://HOST:PORT/DB), shared by every instance that"
        " uses it (default: this process's memory)",
    )
    number(
        parser, "--lease-seconds", float, 5.0, "S", Bounds(0.5, 60),
        "with --store: readers of an answer whose instance died learn so within S seconds"
        " (default: 5)",
    )  # fmt: skip
    number(
        parser, "--flush-ms", float, 0.0, "MS", Bounds(0, 1000),
        "with --store: write each answer's events at most every MS milliseconds, in"
        " batches (default: 0, each at once)",
    )  # fmt: skip
    number(
        parser, "--max-question-chars", int, 4000, "N", POSITIVE,
        "longest question accepted (default: 4000)",
    )  # fmt: skip
    limits = parser.add_argument_group("limits (docs/security.md)")
    number(
        limits, "--reader-grace", float, 15.0, "S", Bounds(0, 3600),
        "an answer nobody reads is stopped (its upstream request cancelled) after S"
        " seconds, time enough for a reload to resume it (default: 15)",
    )  # fmt: skip
    number(
        limits, "--upstream-connections", int, 100, "N", POSITIVE,
        "answers generated at once, and the upstream connection pool's size; when all"
        " are taken the answer abandoned longest is stopped, else a 503 (default: 100)",
    )  # fmt: skip
    number(
        limits, "--max-answers", int, 1000, "N", POSITIVE,
        "answers kept at once; finished ones are forgotten first to make room (default: 1000)",
    )  # fmt: skip
    number(
        limits, "--client-streams", int, 10, "N", NOT_NEGATIVE,
        "answer streams one client (address, or token subject) may have open at once;"
        " 0: no limit (default: 10)",
    )  # fmt: skip
    number(
        limits, "--client-questions", int, 60, "N", NOT_NEGATIVE,
        "new questions one client may ask per minute (in bursts of up to N); 0: no"
        " limit (default: 60)",
    )  # fmt: skip
    number(
        limits, "--max-answer-bytes", int, 1_048_576, "N", Bounds(1024),
        "bytes of text per answer; a longer answer is cut off and says so"
        " (default: 1048576, 1 MB)",
    )  # fmt: skip
    number(
        limits, "--write-timeout", float, 30.0, "S", POSITIVE,
        "a client that reads nothing for S seconds while the server has data for it is"
        " disconnected (default: 30)",
    )  # fmt: skip
    security = parser.add_argument_group("sign-in and headers (docs/security.md)")
    security.add_argument(
        "--require-token",
        metavar="SECRET",
        help="require an access token (JWT, HS256) signed with SECRET on every API request;"
        " env:VAR reads the secret from that environment variable (default: no sign-in)",
    )
    number(
        security, "--ticket-seconds", float, 30.0, "S", Bounds(1, 600),
        "with --require-token: how long a one-time EventSource ticket is valid (default: 30)",
    )  # fmt: skip
    origins(
        security, "--img-src", "img_origins",
        "let the page load images from this origin too (CSP img-src; repeatable)",
    )  # fmt: skip
    origins(
        security, "--connect-src", "connect_origins",
        "let the page connect to this origin too (CSP connect-src; repeatable)",
    )  # fmt: skip
    security.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="trust X-Forwarded-For from these proxy addresses (comma-separated, or *), so"
        " that per-client limits see the real client (default: trust none)",
    )
    args = parser.parse_args(argv)
    if args.upstream and not args.model:
        parser.error("--upstream needs --model")
    for action, bounds in bounded:
        value = getattr(args, action.dest)
        if value is not None and value not in bounds:
            parser.error(f"{action.option_strings[0]} {bounds.requirement()}")
    if args.store is not None and not args.store.startswith(("redis://", "rediss://", "unix://")):
        parser.error("--store takes a redis://, rediss:// or unix:// URL")
    for origin in [*args.img_origins, *args.connect_origins]:
        if origin_of(origin) != origin.rstrip("/"):
            parser.error(f"{origin!r} is not an origin (https://host or https://host:port)")
    if args.require_token is not None:
        try:
            args.require_token = resolve_secret(
                args.require_token, os.environ if environ is None else environ
            )
        except ValueError as error:
            parser.error(f"--require-token: {error}")
        if len(args.require_token) < 16:
            parser.error("--require-token: the secret must be at least 16 characters")
    if args.system_prompt_file is not None:
        try:
            args.system_prompt = args.system_prompt_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            parser.error(f"cannot read --system-prompt-file: {error}")
    # A prompt of nothing but blank lines is no prompt (an empty file, say).
    args.system_prompt = (args.system_prompt or "").strip() or None
    return args


def settings_from(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Settings:
    """The settings the command line asks for; the API key is read from the environment."""
    environ = dict(os.environ) if environ is None else environ
    return Settings(
        root=args.root.resolve(),
        cors_origins=tuple(args.cors_origins),
        pace=args.pace,
        max_question_chars=args.max_question_chars,
        store=args.store,
        lease_seconds=args.lease_seconds,
        flush_interval=args.flush_ms / 1000,
        upstream_url=args.upstream,
        model=args.model,
        api_key=environ.get(args.api_key_env) or None,
        system_prompt=args.system_prompt,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        history_turns=args.history_turns,
        history_chars=args.history_chars,
        history_ttl=args.history_ttl,
        ping_interval=args.ping_interval,
        reader_grace=args.reader_grace,
        upstream_connections=args.upstream_connections,
        max_answers=args.max_answers,
        client_streams=args.client_streams,
        client_questions_per_minute=args.client_questions,
        max_answer_bytes=args.max_answer_bytes,
        write_timeout=args.write_timeout,
        require_token=args.require_token,
        ticket_seconds=args.ticket_seconds,
        img_origins=tuple(origin.rstrip("/") for origin in args.img_origins),
        connect_origins=tuple(origin.rstrip("/") for origin in args.connect_origins),
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # The server's own log lines (Redis outages, generations) beside uvicorn's; other
    # libraries (httpx logs every request at INFO) only from WARNING on.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s:     %(name)s: %(message)s")
    logging.getLogger("server").setLevel(logging.INFO)
    settings = settings_from(args)
    # Fault injection (tests only) is a chat endpoint of its own, not a switch in the real one.
    app = create_app(settings, FaultyChat if args.faults else None)
    # Binding here, not in uvicorn, so that `--port 0` can print the port it got.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as error:
        sys.exit(f"Cannot listen on {args.host}:{args.port}: {error.strerror}")
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    print(f"Serving on http://{host}:{port}/", flush=True)
    # A short graceful shutdown: open event streams would otherwise hold Ctrl+C forever.
    proxies = {"proxy_headers": True, "forwarded_allow_ips": args.forwarded_allow_ips}
    config = uvicorn.Config(
        app,
        log_level="info",
        timeout_graceful_shutdown=2,
        **(proxies if args.forwarded_allow_ips else {"proxy_headers": False}),
    )
    # After uvicorn.Config, which sets up uvicorn's own log handlers: every handler then
    # hides keys, tokens and tickets (server/redact.py).
    redact.install([settings.api_key, settings.require_token])
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
