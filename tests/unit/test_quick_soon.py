"""`QuickSoon`: asyncio's callbacks in a queue, one browser task per batch (CPython stands in
for Pyodide's loop; the browser's task queue is a list)."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest

from streamchat.browser.quick_soon import QuickSoon


class BrowserTasks:
    """The browser's task queue, as `scheduleCallback` sees it."""

    def __init__(self) -> None:
        self.queued: list[Any] = []
        self.delays: list[int] = []

    def schedule(self, callback: Any, delay: int) -> None:
        self.queued.append(callback)
        self.delays.append(delay)

    def run_one(self) -> None:
        self.queued.pop(0)()


@pytest.fixture
def loop() -> Any:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_callbacks_queued_together_cost_one_browser_task_and_run_in_order(loop: Any) -> None:
    tasks = BrowserTasks()
    soon = QuickSoon(loop, tasks.schedule)
    ran: list[int] = []
    for n in range(5):
        soon.call_soon(ran.append, n)
    assert len(tasks.queued) == 1
    assert tasks.delays == [0]
    tasks.run_one()
    assert ran == [0, 1, 2, 3, 4]
    assert soon.pending == 0


def test_a_callback_queued_while_others_run_waits_for_the_next_task(loop: Any) -> None:
    # What `asyncio.sleep(0)` does to a task: the browser paints and handles input between.
    tasks = BrowserTasks()
    soon = QuickSoon(loop, tasks.schedule)
    ran: list[str] = []

    def first() -> None:
        ran.append("first")
        soon.call_soon(ran.append, "queued by first")

    soon.call_soon(first)
    soon.call_soon(ran.append, "second")
    tasks.run_one()
    assert ran == ["first", "second"]
    assert len(tasks.queued) == 1
    tasks.run_one()
    assert ran == ["first", "second", "queued by first"]
    assert tasks.queued == []


def test_a_cancelled_handle_does_not_run_and_a_raising_one_does_not_stop_the_rest(
    loop: Any,
) -> None:
    tasks = BrowserTasks()
    soon = QuickSoon(loop, tasks.schedule)
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    ran: list[str] = []

    def broken() -> None:
        raise ValueError("bug")

    cancelled = soon.call_soon(ran.append, "cancelled")
    soon.call_soon(broken)
    soon.call_soon(ran.append, "after")
    cancelled.cancel()
    tasks.run_one()
    assert ran == ["after"]
    assert isinstance(reported[0]["exception"], ValueError)


def test_callbacks_run_in_their_context_and_after_the_loops_set_up(loop: Any) -> None:
    tasks = BrowserTasks()
    steps: list[str] = []
    soon = QuickSoon(loop, tasks.schedule, before_run=lambda: steps.append("set up"))
    name = contextvars.ContextVar("name", default="outside")
    context = contextvars.copy_context()
    context.run(name.set, "inside")
    soon.call_soon(lambda: steps.append(name.get()), context=context)
    tasks.run_one()
    assert steps == ["set up", "inside"]


def test_the_proxy_is_made_once_for_the_loops_life(loop: Any) -> None:
    made: list[Any] = []
    tasks = BrowserTasks()

    def proxy_of(run: Any) -> Any:
        made.append(run)
        return run

    soon = QuickSoon(loop, tasks.schedule, proxy_of=proxy_of)
    for _ in range(3):
        soon.call_soon(lambda: None)
        tasks.run_one()
    assert len(made) == 1
    assert tasks.queued == []


def test_futures_and_tasks_wake_through_it() -> None:
    """asyncio's own futures and tasks find `call_soon` on the loop instance."""
    loop = asyncio.new_event_loop()
    tasks = BrowserTasks()
    soon = QuickSoon(loop, tasks.schedule)
    loop.call_soon = soon.call_soon  # type: ignore[method-assign,assignment]
    try:
        future: asyncio.Future[str] = loop.create_future()
        woken: list[str] = []

        async def waiter() -> None:
            woken.append(await future)

        task = loop.create_task(waiter())  # its first step is queued with call_soon
        tasks.run_one()
        assert woken == []
        assert not task.done()
        future.set_result("event")  # wakes the task: one more browser task, not two
        assert len(tasks.queued) == 1
        tasks.run_one()
        assert woken == ["event"]
        while tasks.queued:
            tasks.run_one()
        assert task.done()
    finally:
        del loop.call_soon
        loop.close()


def test_run_here_runs_what_an_event_wakes_in_the_events_own_task(loop: Any) -> None:
    tasks = BrowserTasks()
    soon = QuickSoon(loop, tasks.schedule)
    ran: list[str] = []
    soon.call_soon(ran.append, "queued before")
    assert len(tasks.queued) == 1

    def event() -> None:  # a browser event resolving what Python waits for
        soon.call_soon(ran.append, "woken")
        soon.call_soon(lambda: soon.call_soon(ran.append, "yielded"))

    soon.run_here(event)
    assert ran == ["queued before", "woken"]
    assert len(tasks.queued) == 2, "what the woken callbacks queue waits for a task"
    while tasks.queued:
        tasks.run_one()
    assert ran == ["queued before", "woken", "yielded"]


def test_run_here_inside_a_run_only_queues(loop: Any) -> None:
    tasks = BrowserTasks()
    soon = QuickSoon(loop, tasks.schedule)
    ran: list[str] = []

    def wake() -> None:
        soon.call_soon(ran.append, "from nested")

    def nested() -> None:
        soon.run_here(wake)
        ran.append("nested done")

    soon.call_soon(nested)
    tasks.run_one()
    assert ran == ["nested done"]
    tasks.run_one()
    assert ran == ["nested done", "from nested"]
