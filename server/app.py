"""The Starlette application: the chat endpoint, its stop and health routes, and the page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import replace
from functools import partial

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.answerers import Answerer, aclose
from server.auth import LEEWAY, TokenAuthority, Unauthorized, bearer
from server.chat_request import BadRequest, ChatRequest, Limits, from_body, from_query, parse_rid
from server.events import AnswerEvent, ServerError
from server.headers import SecurityHeaders
from server.limits import ClientLimits, Refusal, capped
from server.retrieval import RetrievalAnswerer
from server.settings import Settings
from server.static import static_routes
from server.store.interface import EventStore
from server.store.memory import MemoryEventStore
from server.store.open import open_store
from server.store.types import (
    BROKEN_OFF,
    EXPIRED,
    AnswerConflict,
    AnswerLost,
    Outcome,
    StoreFull,
    StoreUnavailable,
)
from server.streaming import EventStreamResponse, answer_frames, single_event_frames
from server.turns import Limits as HistoryLimits
from server.turns import TurnRecord, bounded, chain, recorded, turns_from_messages
from server.upstream import UpstreamAnswerer

log = logging.getLogger(__name__)

#: Seconds a client is told to wait when every upstream connection serves a reader.
BUSY_RETRY = 5


def create_app(settings: Settings, endpoint: type[ChatEndpoint] | None = None) -> Starlette:
    """The application for `settings`; its event store is `app.state.store` (and, when
    that is the in-memory one, its AnswerStore is `app.state.answers`).

    `endpoint` replaces ChatEndpoint with a subclass (`--faults` serves server/faults.py's).
    """
    client, answerer = _answerer(settings)
    store = open_store(settings)
    chat = (endpoint or ChatEndpoint)(settings, answerer, store)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "answers": len(store)})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.start()
        sweeper = asyncio.create_task(_sweep_forever(store, settings), name="answer sweeper")
        try:
            yield
        finally:
            sweeper.cancel()
            await asyncio.wait({sweeper})
            await store.close()
            if client is not None:
                await client.aclose()

    routes = [*chat.routes(), Route("/healthz", healthz, methods=["GET"])]
    routes.extend(static_routes(settings.root))

    # Outermost, so that every response has them, CORS preflights and errors included.
    middleware = [
        Middleware(
            SecurityHeaders,
            root=settings.root,
            img_origins=settings.img_origins,
            connect_origins=settings.connect_origins,
        )
    ]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["Content-Type", "Authorization", "Last-Event-ID"],
                # So that a cross-origin fetch transport can honour the server's back-off,
                # and tell the user what kind of refusal it got.
                expose_headers=["Retry-After", "X-Error-Code"],
            )
        )
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
    )
    app.state.store = store
    #: The upstream model's HTTP client (None without --upstream): its pool, for tests.
    app.state.upstream_client = client
    if isinstance(store, MemoryEventStore):
        app.state.answers = store.answers
    return app


class AnswerWrapper:
    """What may be put around one request's answer on its way to the client: as it is here,
    nothing. Tests put faults there (server/faults.py, only with `--faults`)."""

    def answerer(
        self, chat: ChatRequest, answer: Callable[[], AsyncIterator[AnswerEvent]]
    ) -> AsyncIterator[AnswerEvent]:
        """The answerer's events for `chat`: those of `answer()`."""
        return answer()

    def events(self, events: AsyncIterator[AnswerEvent]) -> AsyncIterator[AnswerEvent]:
        """The events the store keeps, made from the answerer's (its turn recorded)."""
        return events

    def retry_ms(self, retry_ms: int) -> int:
        """The stream's reconnection time."""
        return retry_ms

    def frames(self, frames: AsyncGenerator[str, None]) -> AsyncGenerator[str, None]:
        """The frames one connection is sent."""
        return frames


#: The answer as it is.
AS_IS = AnswerWrapper()


class ChatEndpoint:
    """`/api/chat`: GET and POST stream an answer, DELETE stops one."""

    def __init__(self, settings: Settings, answerer: Answerer, store: EventStore) -> None:
        self.settings = settings
        self.answerer = answerer
        self.store = store
        self.limits = Limits(settings.max_question_chars, settings.max_history_messages)
        self.history_limits = HistoryLimits(settings.history_turns, settings.history_chars)
        self.auth = (
            TokenAuthority(settings.require_token, settings.wall_clock)
            if settings.require_token
            else None
        )
        self.clients = ClientLimits(
            streams=settings.client_streams,
            per_minute=settings.client_questions_per_minute,
            clock=settings.clock,
        )

    def routes(self) -> list[BaseRoute]:
        """The API's routes: `/api/chat`, and `/api/ticket` with sign-in."""
        routes: list[BaseRoute] = [
            Route("/api/chat", self.get, methods=["GET"]),
            Route("/api/chat", self.post, methods=["POST"]),
            Route("/api/chat", self.delete, methods=["DELETE"]),
        ]
        if self.settings.require_token:
            routes.append(Route("/api/ticket", self.ticket, methods=["POST"]))
        return routes

    async def get(self, request: Request) -> Response:
        as_events = "text/event-stream" in request.headers.get("accept", "")
        try:
            subject = await self._subject(request, ticket=request.query_params.get("ticket"))
        except Unauthorized as error:
            return self._unauthorized(error, as_events=as_events)
        except StoreUnavailable as error:
            return _unavailable(error.retry_after)
        try:
            chat = from_query(
                request.query_params, request.headers.get("last-event-id"), self.limits
            )
        except BadRequest as error:
            if as_events:
                # A native EventSource cannot read a 400's body: say it in the stream instead,
                # where the page shows it (a question over the length limit, say).
                return self._single_event(ServerError(str(error), code=error.code))
            return _error(400, str(error))
        return await self.admit(request, subject, chat, as_events=as_events)

    async def post(self, request: Request) -> Response:
        try:
            subject = await self._subject(request)
        except Unauthorized as error:
            return self._unauthorized(error, as_events=False)
        try:
            chat = from_body(
                await request.body(),
                request.query_params,
                request.headers.get("last-event-id"),
                self.limits,
            )
        except BadRequest as error:
            return _error(400, str(error), {"X-Error-Code": error.code})
        return await self.admit(request, subject, chat, as_events=False)

    async def delete(self, request: Request) -> Response:
        """Stops the answer at once (closing its answerer); 204 whether or not it existed,
        except with sign-in, where an answer that is not there or not the caller's is a 404."""
        try:
            subject = await self._subject(request)
        except Unauthorized as error:
            return self._unauthorized(error, as_events=False)
        try:
            rid = parse_rid(request.query_params.get("rid"))
        except BadRequest as error:
            return _error(400, str(error))
        if self.auth is not None and subject is not None:
            rid = self.auth.owned_rid(subject, rid)
        try:
            found = await self.store.cancel(rid)
        except StoreUnavailable as error:
            return _unavailable(error.retry_after)
        if self.auth is not None and not found:
            return _error(404, "There is no such answer.", {"X-Error-Code": "not-found"})
        return Response(status_code=204)

    async def ticket(self, request: Request) -> Response:
        """`POST /api/ticket` with an access token: a ticket for one EventSource request."""
        assert self.auth is not None
        try:
            subject = await self._subject(request)
        except Unauthorized as error:
            return self._unauthorized(error, as_events=False)
        assert subject is not None
        seconds = self.settings.ticket_seconds
        ticket = self.auth.issue_ticket(subject, seconds)
        return JSONResponse(
            {"ticket": ticket, "expires_in": math.floor(seconds)},
            headers={"Cache-Control": "no-store"},
        )

    async def admit(
        self, request: Request, subject: str | None, chat: ChatRequest, *, as_events: bool
    ) -> Response:
        """Streams `chat` if the client's fair share allows it, else says when to come back."""
        if self.auth is not None and subject is not None:
            owned = self.auth.owned_rid
            parent = owned(subject, chat.parent) if chat.parent else None
            chat = replace(chat, rid=owned(subject, chat.rid), parent=parent)
            client = f"sub:{subject}"
        else:
            client = f"addr:{request.client.host if request.client else 'unknown'}"
        refusal = self.clients.admit(client, question=not chat.last_event_id)
        if refusal is not None:
            return self._refused(429, refusal, "rate-limit", as_events=as_events)
        try:
            response = await self.stream(chat, as_events=as_events)
        except BaseException:
            self.clients.release(client)
            raise
        if isinstance(response, EventStreamResponse):
            # The client's stream counts until the response is over, however it ends.
            response.on_close = partial(self.clients.release, client)
        else:
            self.clients.release(client)
        return response

    async def _subject(self, request: Request, ticket: str | None = None) -> str | None:
        """Who is asking: None without sign-in; raises Unauthorized."""
        if self.auth is None:
            return None
        token = bearer(request.headers.get("authorization"))
        if token is not None:
            return self.auth.subject(token)
        if ticket:
            checked = self.auth.ticket(ticket)
            lifetime = checked.expires - self.settings.wall_clock() + LEEWAY
            if not await self.store.spend_ticket(checked.nonce, max(1.0, lifetime)):
                raise Unauthorized("This ticket has been used already; ask for a new one.")
            return checked.subject
        raise Unauthorized("Please sign in: this server needs an access token.")

    def _unauthorized(self, error: Unauthorized, *, as_events: bool) -> Response:
        if as_events:
            return self._single_event(ServerError(str(error), code="auth"))
        headers = {"WWW-Authenticate": 'Bearer realm="chat"', "X-Error-Code": "auth"}
        return _error(401, str(error), headers)

    def _refused(self, status: int, refusal: Refusal, code: str, *, as_events: bool) -> Response:
        if as_events:
            # A native EventSource cannot see a status or its Retry-After: say it as an error
            # event the page shows, and may retry after `retry_after` seconds.
            event = ServerError(refusal.message, True, refusal.retry_after, code)
            return self._single_event(event)
        headers = {"Retry-After": str(refusal.retry_after), "X-Error-Code": code}
        return _error(status, refusal.message, headers)

    async def stream(
        self, chat: ChatRequest, *, as_events: bool = False, wrapper: AnswerWrapper = AS_IS
    ) -> Response:
        """The response to `chat`: its answer's stream (`wrapper` around it), or why not."""
        # Sweeping here as well as periodically: under the ASGI test transport no lifespan
        # runs, and a request is when memory is about to be needed anyway.
        await self.store.sweep()
        after = chat.last_event_id or 0

        def start() -> AsyncIterator[AnswerEvent]:
            return self._start(chat, wrapper)

        try:
            if after == 0 and not await self._room_for(chat.rid):
                busy = Refusal(
                    "The server is answering as many questions as it can; try again in"
                    f" {BUSY_RETRY} s.",
                    BUSY_RETRY,
                )
                return self._refused(503, busy, "busy", as_events=as_events)
            # A resume (after > 0) of an answer the store does not have gets None, not a new one.
            answer = await self.store.open(chat.rid, chat.question, start, resume=after > 0)
            if answer is None:
                return self._single_event(EXPIRED)
            state = await answer.state()
        except AnswerConflict:
            return _error(409, "This rid is already answering a different question.")
        except StoreFull:
            retry_after = str(max(1, math.ceil(self.settings.keep_seconds)))
            return _error(503, "Too many answers at once.", {"Retry-After": retry_after})
        except StoreUnavailable as error:
            return _unavailable(error.retry_after)
        except AnswerLost as lost:
            return self._single_event(lost.event)
        if after >= state.count and state.outcome is not Outcome.RUNNING:
            # This client has every event of an answer that is over. A retry after a
            # retryable error deserves a new attempt, if no text has to be taken back.
            if state.failed_retryably and not state.has_text:
                try:
                    await answer.restart(start, state.count)
                except AnswerLost as lost:
                    return self._single_event(lost.event)
            elif state.failed_retryably:
                return self._single_event(BROKEN_OFF)
            elif state.outcome is not Outcome.DONE:
                # Failed for good, or stopped: nothing more will come. 204 is also what
                # tells a native EventSource to stop reconnecting.
                return Response(status_code=204)
        frames = answer_frames(
            answer,
            after,
            retry_ms=wrapper.retry_ms(self.settings.retry_ms),
            ping_interval=self.settings.ping_interval,
        )
        return EventStreamResponse(
            wrapper.frames(frames), write_timeout=self.settings.write_timeout
        )

    async def _room_for(self, rid: str) -> bool:
        """Whether a new answer may start generating: the upstream pool has a connection for
        it, or one is freed by stopping the answer abandoned longest. An answer the store
        already has (a second reader) needs no room."""
        if self.store.running < self.settings.upstream_connections:
            return True
        if await self.store.holds(rid):
            return True
        return await self.store.make_room()

    def _start(self, chat: ChatRequest, wrapper: AnswerWrapper) -> AsyncIterator[AnswerEvent]:
        source = wrapper.answerer(
            chat, lambda: capped(self._answer(chat), self.settings.max_answer_bytes)
        )

        async def save(answer: str) -> None:
            record = TurnRecord(chat.question, answer, chat.parent, chat.continuing)
            try:
                await self.store.save_turn(chat.rid, record)
            except StoreUnavailable:
                log.warning("could not keep the turn of answer %s for follow-ups", chat.rid)

        return wrapper.events(recorded(source, save))

    async def _answer(self, chat: ChatRequest) -> AsyncIterator[AnswerEvent]:
        """The answerer's events for `chat`, given the conversation so far (bounded)."""
        if chat.history:
            turns, missing = turns_from_messages(chat.history), False
        else:
            turns, missing = await chain(self.store, chat.parent)
        partial = turns.pop() if chat.continuing and turns else None
        history = bounded(turns, self.history_limits, missing=missing)
        context = history.context_event()
        if context is not None:
            yield context
        messages = history.messages()
        if chat.continuing:
            answered = partial.answer if partial is not None else ""
            messages += [
                {"role": "user", "content": chat.question},
                {"role": "assistant", "content": answered},
            ]
            source = self.answerer.answer(chat.question, messages, continuing=True)
        else:
            source = self.answerer.answer(chat.question, messages)
        try:
            async for event in source:
                yield event
        finally:
            await aclose(source)

    def _single_event(self, error: ServerError) -> Response:
        # Said in the stream, where the page shows it, rather than as a bare HTTP status.
        return EventStreamResponse(single_event_frames(error, self.settings.retry_ms))


def _answerer(settings: Settings) -> tuple[httpx.AsyncClient | None, Answerer]:
    if settings.answerer is not None:
        return None, settings.answerer
    if settings.upstream_url:
        if not settings.model:
            raise ValueError("an upstream URL needs a model name")
        # Generous read timeout: a model may think for a while before its first token. The
        # pool is as large as the answers generated at once (ChatEndpoint._room_for), so a
        # wait for a connection is short and rare, and it ends in an error, never a hang.
        connections = settings.upstream_connections
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, read=120.0, pool=5.0),
            limits=httpx.Limits(
                max_connections=connections, max_keepalive_connections=min(connections, 20)
            ),
        )
        return client, UpstreamAnswerer(
            settings.upstream_url,
            settings.model,
            settings.api_key,
            client,
            system_prompt=settings.system_prompt,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
        )
    return None, RetrievalAnswerer(pace=settings.pace, sleep=settings.sleep)


async def _sweep_forever(store: EventStore, settings: Settings) -> None:
    while True:
        # Real time on purpose: housekeeping, which tests drive by calling sweep() themselves
        # (an injected no-op sleep would make this loop spin). Often enough that an abandoned
        # answer is stopped within a quarter of the grace after it.
        await asyncio.sleep(max(0.5, min(settings.sweep_interval, settings.reader_grace / 4)))
        try:
            await store.sweep()
        except Exception:
            log.exception("sweeping answers failed")


def _unavailable(retry_after: int = 1) -> Response:
    # Short: the store is usually back within seconds (a Redis failover or restart).
    return _error(503, "The answer store is unavailable.", {"Retry-After": str(retry_after)})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
