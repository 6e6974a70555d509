"""Command line: `python -m server` serves the page and the chat endpoint with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import uvicorn

from server import redact
from server.app import create_app
from server.auth import resolve_secret
from server.headers import origin_of
from server.settings import REPO_ROOT, Settings


def parse_args(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> argparse.Namespace:
    """The command line's arguments; `environ` (default: the process's) for `env:` secrets."""
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument(
        "--root", type=Path, default=REPO_ROOT, help="directory with index.html (default: repo)"
    )
    parser.add_argument(
        "--cors-origin",
        dest="cors_origins",
        action="extend",
        nargs="+",
        default=[],
        metavar="ORIGIN",
        help="allow this origin to call the API (repeatable)",
    )
    parser.add_argument("--pace", type=float, default=0.03, help="seconds per offline token")
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
    parser.add_argument(
        "--temperature",
        type=float,
        metavar="T",
        help="the model's sampling temperature, 0 to 2 (default: the model's own)",
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        metavar="N",
        help="tokens the model may write per answer at most (default: the model's own)",
    )
    parser.add_argument(
        "--history-turns",
        type=int,
        default=20,
        metavar="N",
        help="earlier turns given to the model at most; older ones are dropped first (default: 20)",
    )
    parser.add_argument(
        "--history-chars",
        type=int,
        default=24_000,
        metavar="N",
        help="characters of earlier turns given to the model at most (default: 24000)",
    )
    parser.add_argument(
        "--history-ttl",
        type=float,
        default=86_400.0,
        metavar="S",
        help="seconds the server keeps a conversation's turns for follow-up questions"
        " (default: 86400)",
    )
    parser.add_argument(
        "--ping-interval",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds of silence after which a heartbeat event is sent (default: 5)",
    )
    parser.add_argument(
        "--faults", action="store_true", help="honour the `fault` query parameter (tests only)"
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        help="keep answers in this Redis (redis://HOST:PORT/DB), shared by every instance that"
        " uses it (default: this process's memory)",
    )
    parser.add_argument(
        "--lease-seconds",
        type=float,
        default=5.0,
        metavar="S",
        help="with --store: readers of an answer whose instance died learn so within S seconds"
        " (default: 5)",
    )
    parser.add_argument(
        "--flush-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="with --store: write each answer's events at most every MS milliseconds, in"
        " batches (default: 0, each at once)",
    )
    parser.add_argument(
        "--max-question-chars",
        type=int,
        default=4000,
        metavar="N",
        help="longest question accepted (default: 4000)",
    )
    limits = parser.add_argument_group("limits (docs/security.md)")
    limits.add_argument(
        "--reader-grace",
        type=float,
        default=15.0,
        metavar="S",
        help="an answer nobody reads is stopped (its upstream request cancelled) after S"
        " seconds, time enough for a reload to resume it (default: 15)",
    )
    limits.add_argument(
        "--upstream-connections",
        type=int,
        default=100,
        metavar="N",
        help="answers generated at once, and the upstream connection pool's size; when all"
        " are taken the answer abandoned longest is stopped, else a 503 (default: 100)",
    )
    limits.add_argument(
        "--max-answers",
        type=int,
        default=1000,
        metavar="N",
        help="answers kept at once; finished ones are forgotten first to make room (default: 1000)",
    )
    limits.add_argument(
        "--client-streams",
        type=int,
        default=10,
        metavar="N",
        help="answer streams one client (address, or token subject) may have open at once;"
        " 0: no limit (default: 10)",
    )
    limits.add_argument(
        "--client-questions",
        type=int,
        default=60,
        metavar="N",
        help="new questions one client may ask per minute (in bursts of up to N); 0: no"
        " limit (default: 60)",
    )
    limits.add_argument(
        "--max-answer-bytes",
        type=int,
        default=1_048_576,
        metavar="N",
        help="bytes of text per answer; a longer answer is cut off and says so"
        " (default: 1048576, 1 MB)",
    )
    limits.add_argument(
        "--write-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="a client that reads nothing for S seconds while the server has data for it is"
        " disconnected (default: 30)",
    )
    security = parser.add_argument_group("sign-in and headers (docs/security.md)")
    security.add_argument(
        "--require-token",
        metavar="SECRET",
        help="require an access token (JWT, HS256) signed with SECRET on every API request;"
        " env:VAR reads the secret from that environment variable (default: no sign-in)",
    )
    security.add_argument(
        "--ticket-seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="with --require-token: how long a one-time EventSource ticket is valid (default: 30)",
    )
    security.add_argument(
        "--img-src",
        dest="img_origins",
        action="extend",
        nargs="+",
        default=[],
        metavar="ORIGIN",
        help="let the page load images from this origin too (CSP img-src; repeatable)",
    )
    security.add_argument(
        "--connect-src",
        dest="connect_origins",
        action="extend",
        nargs="+",
        default=[],
        metavar="ORIGIN",
        help="let the page connect to this origin too (CSP connect-src; repeatable)",
    )
    security.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="trust X-Forwarded-For from these proxy addresses (comma-separated, or *), so"
        " that per-client limits see the real client (default: trust none)",
    )
    args = parser.parse_args(argv)
    if args.upstream and not args.model:
        parser.error("--upstream needs --model")
    if args.pace < 0:
        parser.error("--pace must not be negative")
    if args.max_question_chars < 1:
        parser.error("--max-question-chars must be positive")
    if args.store is not None and not args.store.startswith(("redis://", "rediss://", "unix://")):
        parser.error("--store takes a redis://, rediss:// or unix:// URL")
    if not 0.5 <= args.lease_seconds <= 60:
        parser.error("--lease-seconds must be 0.5 to 60")
    if not 0 <= args.flush_ms <= 1000:
        parser.error("--flush-ms must be 0 to 1000")
    if args.temperature is not None and not 0 <= args.temperature <= 2:
        parser.error("--temperature must be 0 to 2")
    if args.max_tokens is not None and args.max_tokens < 1:
        parser.error("--max-tokens must be positive")
    if args.history_turns < 0:
        parser.error("--history-turns must not be negative")
    if args.history_chars < 0:
        parser.error("--history-chars must not be negative")
    if not args.history_ttl > 0:
        parser.error("--history-ttl must be positive")
    if not 0.2 <= args.ping_interval <= 60:
        parser.error("--ping-interval must be 0.2 to 60")
    if not 0 <= args.reader_grace <= 3600:
        parser.error("--reader-grace must be 0 to 3600")
    if args.upstream_connections < 1:
        parser.error("--upstream-connections must be positive")
    if args.max_answers < 1:
        parser.error("--max-answers must be positive")
    if args.client_streams < 0 or args.client_questions < 0:
        parser.error("--client-streams and --client-questions must not be negative")
    if args.max_answer_bytes < 1024:
        parser.error("--max-answer-bytes must be at least 1024")
    if not args.write_timeout > 0:
        parser.error("--write-timeout must be positive")
    if not 1 <= args.ticket_seconds <= 600:
        parser.error("--ticket-seconds must be 1 to 600")
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
        faults=args.faults,
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
    app = create_app(settings)
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
