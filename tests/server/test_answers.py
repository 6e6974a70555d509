"""server/store/memory.py: pull-based generation, shared readers, stopping, forgetting."""

from __future__ import annotations

import asyncio

import pytest

from server.events import ServerError, Token
from server.store.memory import Answer, AnswerStore
from server.store.types import AnswerConflict, Outcome, StoreFull
from tests.server.helpers import FakeClock, ScriptedAnswerer

pytestmark = pytest.mark.anyio


def make_store(clock: FakeClock, **overrides: int | float) -> AnswerStore:
    # No reader grace unless a test asks for one: these tests are about keeping and expiry.
    values: dict[str, int | float] = {
        "keep_seconds": 60,
        "max_answers": 10,
        "max_events": 100,
        "reader_grace": 1e9,
    }
    values.update(overrides)
    return AnswerStore(clock=clock, **values)  # type: ignore[arg-type]


def start(store: AnswerStore, answerer: ScriptedAnswerer, rid: str = "r1") -> Answer:
    return store.open(rid, "question", lambda: answerer.answer("question", []))


async def read_all(answer: Answer) -> None:
    seen = 0
    while not answer.finished:
        await answer.wait_beyond(seen)
        seen = len(answer.events)


async def settle() -> None:
    """Lets every ready task run to its next real wait."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_nothing_is_generated_until_a_reader_asks(clock: FakeClock) -> None:
    answerer = ScriptedAnswerer(forever=True)
    answer = start(make_store(clock), answerer)
    await settle()
    assert answerer.produced == 0

    await answer.wait_beyond(0)
    await answer.wait_beyond(1)
    await settle()
    assert len(answer.events) == 2
    assert answerer.produced == 2  # one event per request, none ahead


async def test_an_answer_ends_done_with_all_events(clock: FakeClock) -> None:
    answerer = ScriptedAnswerer()
    answer = start(make_store(clock), answerer)
    await read_all(answer)
    assert answer.outcome is Outcome.DONE
    assert answer.events == answerer.events
    assert answerer.closed == 1


async def test_concurrent_readers_share_one_pull(clock: FakeClock) -> None:
    gate = asyncio.Event()
    answerer = ScriptedAnswerer(forever=True, gate=gate)
    answer = start(make_store(clock), answerer)
    readers = [asyncio.create_task(answer.wait_beyond(0)) for _ in range(5)]
    await settle()
    gate.set()
    await asyncio.gather(*readers)
    await settle()
    assert answerer.produced == 1
    assert len(answer.events) == 1


async def test_a_cancelled_reader_does_not_interrupt_the_answerer(clock: FakeClock) -> None:
    gate = asyncio.Event()
    answerer = ScriptedAnswerer(forever=True, gate=gate)
    answer = start(make_store(clock), answerer)
    reader = asyncio.create_task(answer.wait_beyond(0))
    await settle()
    reader.cancel()
    await asyncio.wait({reader})
    assert answer.generating

    gate.set()
    await settle()
    assert answer.events == [Token("t0 ")]  # kept for the next reader
    assert answerer.closed == 0
    assert not answer.generating  # and nothing more is pulled


async def test_close_cancels_the_pull_under_way_and_closes_the_answerer(clock: FakeClock) -> None:
    answerer = ScriptedAnswerer(forever=True, gate=asyncio.Event())
    answer = start(make_store(clock), answerer)
    reader = asyncio.create_task(answer.wait_beyond(0))
    await settle()

    await answer.close()
    assert answerer.closed == 1
    assert answer.outcome is Outcome.STOPPED
    await asyncio.wait_for(reader, 1)  # the waiting reader wakes up


async def test_an_error_event_ends_the_answer_and_closes_the_answerer(clock: FakeClock) -> None:
    error = ServerError("nope", retryable=True)
    answerer = ScriptedAnswerer([Token("a"), error, Token("never")])
    answer = start(make_store(clock), answerer)
    await read_all(answer)
    assert answer.outcome is Outcome.ERROR
    assert answer.events == [Token("a"), error]
    assert answerer.closed == 1


async def test_an_answerer_bug_becomes_an_error_event(clock: FakeClock) -> None:
    answerer = ScriptedAnswerer(forever=True, fail_after=2)
    answer = start(make_store(clock), answerer)
    await read_all(answer)
    assert answer.outcome is Outcome.ERROR
    assert answer.events[-1] == ServerError("The answer failed on the server.")
    assert len(answer.events) == 3


async def test_events_per_answer_are_capped(clock: FakeClock) -> None:
    answerer = ScriptedAnswerer(forever=True)
    answer = start(make_store(clock, max_events=5), answerer)
    await read_all(answer)
    assert len(answer.events) == 6
    assert isinstance(answer.events[-1], ServerError)
    assert answerer.closed == 1


async def test_reopening_a_rid_resumes_it_and_a_new_question_conflicts(clock: FakeClock) -> None:
    store = make_store(clock)
    answerer = ScriptedAnswerer()
    first = start(store, answerer)
    assert start(store, answerer) is first
    assert answerer.started == 0  # the answerer starts only on the first pull
    with pytest.raises(AnswerConflict):
        store.open("r1", "another question", lambda: answerer.answer("another", []))


async def test_the_number_of_answers_is_capped(clock: FakeClock) -> None:
    store = make_store(clock, max_answers=2)
    start(store, ScriptedAnswerer(), "a")
    start(store, ScriptedAnswerer(), "b")
    with pytest.raises(StoreFull):
        start(store, ScriptedAnswerer(), "c")


async def test_sweep_forgets_answers_idle_for_keep_seconds(clock: FakeClock) -> None:
    store = make_store(clock, keep_seconds=60)
    idle, read = ScriptedAnswerer(forever=True), ScriptedAnswerer(forever=True)
    idle_answer = start(store, idle, "idle")
    read_answer = start(store, read, "read")
    await idle_answer.wait_beyond(0)
    await settle()

    clock.advance(59)
    await store.sweep()
    assert len(store) == 2

    clock.advance(1)
    with store.reading(read_answer):
        await store.sweep()
    assert store.get("idle") is None
    assert store.get("read") is read_answer  # a reader keeps it
    assert idle.closed == 1
    assert idle_answer.outcome is Outcome.STOPPED

    clock.advance(59)  # the reader left just now: kept another keep_seconds
    await store.sweep()
    assert len(store) == 1
    clock.advance(1)
    await store.sweep()
    assert len(store) == 0


async def test_cancel_stops_an_answer_but_keeps_its_events(clock: FakeClock) -> None:
    store = make_store(clock)
    answerer = ScriptedAnswerer(forever=True)
    answer = start(store, answerer)
    await answer.wait_beyond(0)
    assert await store.cancel("r1")
    assert not await store.cancel("unknown")
    assert answerer.closed == 1
    assert answer.outcome is Outcome.STOPPED
    assert store.get("r1") is answer
    assert len(answer.events) == 1
