"""The Starlette application: the chat endpoint, its stop and health routes, and the page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.answerers import Answerer, aclose
from server.answers import AnswerConflict, Outcome, StoreFull
from server.chat_request import BadRequest, ChatRequest, Limits, from_body, from_query, parse_rid
from server.events import AnswerEvent, ServerError
from server.faults import (
    NO_FAULTS,
    ConnectionFaults,
    FaultLog,
    FaultPlan,
    FaultSyntaxError,
    early_response,
    echo,
    faulty_source,
    parse_faults,
)
from server.retrieval import RetrievalAnswerer
from server.settings import Settings
from server.static import static_routes
from server.store import (
    BROKEN_OFF,
    EXPIRED,
    AnswerLost,
    EventStore,
    MemoryEventStore,
    StoreUnavailable,
    open_store,
)
from server.streaming import EventStreamResponse, answer_frames, single_event_frames
from server.turns import Limits as HistoryLimits
from server.turns import TurnRecord, bounded, chain, recorded, turns_from_messages
from server.upstream import UpstreamAnswerer

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> Starlette:
    """The application for `settings`; its event store is `app.state.store` (and, when
    that is the in-memory one, its AnswerStore is `app.state.answers`)."""
    client, answerer = _answerer(settings)
    store = open_store(settings)
    fault_log = FaultLog()
    chat = ChatEndpoint(settings, answerer, store, fault_log)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "answers": len(store)})

    async def attempts(request: Request) -> Response:
        try:
            rid = parse_rid(request.query_params.get("rid"))
        except BadRequest as error:
            return _error(400, str(error))
        record = fault_log.get(rid)
        return JSONResponse({"attempts": record.attempts, "last_event_ids": record.last_event_ids})

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

    routes: list[BaseRoute] = [
        Route("/api/chat", chat.get, methods=["GET"]),
        Route("/api/chat", chat.post, methods=["POST"]),
        Route("/api/chat", chat.delete, methods=["DELETE"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    if settings.faults:
        routes.append(Route("/api/_faults/attempts", attempts, methods=["GET"]))
    routes.extend(static_routes(settings.root))

    middleware = []
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["Content-Type", "Authorization", "Last-Event-ID"],
                # So that a cross-origin fetch transport can honour the server's back-off.
                expose_headers=["Retry-After"],
            )
        )
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
    )
    app.state.store = store
    if isinstance(store, MemoryEventStore):
        app.state.answers = store.answers
    app.state.fault_log = fault_log
    return app


class ChatEndpoint:
    """`/api/chat`: GET and POST stream an answer, DELETE stops one."""

    def __init__(
        self, settings: Settings, answerer: Answerer, store: EventStore, fault_log: FaultLog
    ) -> None:
        self.settings = settings
        self.answerer = answerer
        self.store = store
        self.fault_log = fault_log
        self.limits = Limits(settings.max_question_chars, settings.max_history_messages)
        self.history_limits = HistoryLimits(settings.history_turns, settings.history_chars)

    async def get(self, request: Request) -> Response:
        try:
            chat = from_query(
                request.query_params, request.headers.get("last-event-id"), self.limits
            )
        except BadRequest as error:
            if "text/event-stream" in request.headers.get("accept", ""):
                # A native EventSource cannot read a 400's body: say it in the stream instead,
                # where the page shows it (a question over the length limit, say).
                return self._single_event(ServerError(str(error), code=error.code))
            return _error(400, str(error))
        return await self.stream(chat)

    async def post(self, request: Request) -> Response:
        try:
            chat = from_body(
                await request.body(),
                request.query_params,
                request.headers.get("last-event-id"),
                self.limits,
            )
        except BadRequest as error:
            return _error(400, str(error), {"X-Error-Code": error.code})
        return await self.stream(chat)

    async def delete(self, request: Request) -> Response:
        """Stops the answer at once (closing its answerer); 204 whether or not it existed."""
        try:
            rid = parse_rid(request.query_params.get("rid"))
        except BadRequest as error:
            return _error(400, str(error))
        try:
            await self.store.cancel(rid)
        except StoreUnavailable:
            return _unavailable()
        return Response(status_code=204)

    async def stream(self, chat: ChatRequest) -> Response:
        # Sweeping here as well as periodically: under the ASGI test transport no lifespan
        # runs, and a request is when memory is about to be needed anyway.
        await self.store.sweep()
        plan, connection_faults = NO_FAULTS, None
        if self.settings.faults:
            try:
                plan = parse_faults(chat.fault or "")
            except FaultSyntaxError as error:
                return _error(400, f"Bad fault parameter: {error}")
            record = self.fault_log.record(chat.rid, chat.last_event_id)
            injected = early_response(plan, record)
            if injected is not None:
                return injected
            connection_faults = ConnectionFaults(plan, record)

        after = chat.last_event_id or 0

        def start() -> AsyncIterator[AnswerEvent]:
            return self._start(chat, plan)

        try:
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
        except StoreUnavailable:
            return _unavailable()
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
        retry_ms = plan.retry_ms if plan.retry_ms is not None else self.settings.retry_ms
        frames = answer_frames(
            answer,
            after,
            retry_ms=retry_ms,
            ping_interval=self.settings.ping_interval,
            faults=connection_faults,
        )
        return EventStreamResponse(frames)

    def _start(self, chat: ChatRequest, plan: FaultPlan) -> AsyncIterator[AnswerEvent]:
        source = self._answer(chat) if plan.echo is None else echo(chat.question, plan.echo)

        async def save(answer: str) -> None:
            record = TurnRecord(chat.question, answer, chat.parent, chat.continuing)
            try:
                await self.store.save_turn(chat.rid, record)
            except StoreUnavailable:
                log.warning("could not keep the turn of answer %s for follow-ups", chat.rid)

        return faulty_source(plan, recorded(source, save), self.settings.sleep)

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
        # Generous read timeout: a model may think for a while before its first token.
        client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=120.0))
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
        # (an injected no-op sleep would make this loop spin).
        await asyncio.sleep(settings.sweep_interval)
        try:
            await store.sweep()
        except Exception:
            log.exception("sweeping answers failed")


def _unavailable() -> Response:
    # Short: the store is usually back within seconds (a Redis failover or restart).
    return _error(503, "The answer store is unavailable.", {"Retry-After": "1"})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
