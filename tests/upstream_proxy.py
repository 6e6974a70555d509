"""A recording reverse proxy for tests: forwards /v1/* to a model server, streaming.

    python -m tests.upstream_proxy --port 0 --target http://127.0.0.1:8081

Every request is recorded: its JSON body, the response body as it passes, and how the
response ended: "open" while under way, "complete" when all of it went through,
"disconnected" when the client left before its end (a client that hangs up right after
`data: [DONE]` counts too). Leaving closes the request to the model at once, so a back
end's stop reaches the model as it would without the proxy. `GET /_recorded` lists the
records, oldest first.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

#: Response headers that describe the upstream connection, not the body passed on.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def create_app(target: str) -> Starlette:
    """The proxy in front of `target` (the model server's base URL, without /v1)."""
    records: list[dict[str, Any]] = []
    client = httpx.AsyncClient(base_url=target.rstrip("/"), timeout=httpx.Timeout(60, read=None))

    async def recorded(request: Request) -> Response:
        return JSONResponse(records)

    async def forward(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        record: dict[str, Any] = {
            "method": request.method,
            "path": request.url.path,
            "body": _json_or_none(body),
            "ended": "open",
            "response": "",
        }
        records.append(record)
        upstream = client.build_request(
            request.method,
            request.url.path,
            params=request.query_params,
            content=body,
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
        )
        async with anyio.create_task_group() as group:

            async def relay() -> None:
                response = await client.send(upstream, stream=True)
                # Recorded as it passes, so a test sees it as soon as the client has it.
                text = codecs.getincrementaldecoder("utf-8")(errors="replace")
                try:
                    headers = [
                        (k.encode(), v.encode())
                        for k, v in response.headers.items()
                        if k.lower() not in HOP_BY_HOP
                    ]
                    start = {"type": "http.response.start", "status": response.status_code}
                    await send({**start, "headers": headers})
                    async for chunk in response.aiter_raw():
                        record["response"] += text.decode(chunk)
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    record["ended"] = "complete"
                finally:
                    await response.aclose()  # on cancel too: the model sees us leave
                group.cancel_scope.cancel()

            group.start_soon(relay)
            while (await receive())["type"] != "http.disconnect":
                pass
            if record["ended"] == "open":
                record["ended"] = "disconnected"
            group.cancel_scope.cancel()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with client:
            yield

    routes = [Route("/_recorded", recorded, methods=["GET"]), Mount("/v1", app=forward)]
    return Starlette(routes=routes, lifespan=lifespan)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.upstream_proxy", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--target", required=True, metavar="URL", help="the model server")
    args = parser.parse_args(argv)
    # Bound here, as `python -m server` does, so that `--port 0` can print the port it got.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as error:
        sys.exit(f"Cannot listen on {args.host}:{args.port}: {error.strerror}")
    print(f"Serving on http://{args.host}:{sock.getsockname()[1]}/", flush=True)
    config = uvicorn.Config(create_app(args.target), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


if __name__ == "__main__":
    main()
