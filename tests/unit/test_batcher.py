"""Coalescing streamed tokens into one update per animation frame."""

from __future__ import annotations

import pytest

from streamchat.batcher import FrameBatcher, FramePacer


def test_take_returns_everything_added_since_the_last_take() -> None:
    batcher = FrameBatcher()
    assert not batcher.pending
    assert batcher.take() == ""
    batcher.add("Server-sent ")
    batcher.add("events ")
    assert batcher.pending
    assert batcher.take() == "Server-sent events "
    assert not batcher.pending
    assert batcher.take() == ""
    batcher.add("reconnect.")
    assert batcher.take() == "reconnect."


def test_empty_tokens_do_not_make_an_update_pending() -> None:
    batcher = FrameBatcher()
    batcher.add("")
    assert not batcher.pending


def test_one_update_per_frame_however_fast_tokens_arrive() -> None:
    # A fake clock: tokens every 2 ms for 50 ms, frames every 16 ms; the frame callback
    # renders only when something is pending.
    events = [(t, "token") for t in range(0, 50, 2)] + [(t, "frame") for t in range(0, 80, 16)]
    events.sort(key=lambda event: (event[0], event[1] == "frame"))
    batcher = FrameBatcher()
    updates: list[tuple[int, str]] = []
    for time, kind in events:
        if kind == "token":
            batcher.add(f"t{time} ")
        elif batcher.pending:
            updates.append((time, batcher.take()))
    assert [time for time, _ in updates] == [0, 16, 32, 48]  # the idle frame at 64 draws nothing
    assert [text.count("t") for _, text in updates] == [1, 8, 8, 8]
    assert "".join(text for _, text in updates) == "".join(f"t{t} " for t in range(0, 50, 2))


def test_pacer_renders_every_frame_while_updates_are_cheap() -> None:
    pacer = FramePacer(share=0.4)
    frames = [n / 60 for n in range(60)]
    rendered = 0
    for now in frames:
        if pacer.due(now):
            rendered += 1
            pacer.rendered(now, now + 0.002)
    assert rendered == 60


def test_pacer_leaves_frames_to_the_browser_after_an_expensive_update() -> None:
    pacer = FramePacer(share=0.4)
    busy = 0.0
    rendered = 0
    for frame in range(600):  # ten seconds of frames, each update costing 20 ms
        now = frame / 60
        if pacer.due(now):
            rendered += 1
            busy += 0.020
            pacer.rendered(now, now + 0.020)
    assert busy / 10 <= 0.4
    assert rendered >= 150  # still several updates a second: nothing waits long


def test_pacer_refuses_a_share_it_cannot_keep() -> None:
    with pytest.raises(ValueError, match="share"):
        FramePacer(share=0)


def test_pacer_shows_a_cheap_update_at_once_and_an_expensive_one_a_frame_later() -> None:
    pacer = FramePacer(frame_budget=0.012)
    assert not pacer.show_apart(started=1.0, rendered=1.004)
    assert not pacer.show_apart(started=1.0, rendered=1.0059)
    # Rendering took 25 ms: style, layout and paint of its HTML in the same task would make
    # it a long one, so the next frame shows it.
    assert pacer.show_apart(started=1.0, rendered=1.025)
    # 7 ms of rendering, and showing is expected to cost as much again: over the budget.
    assert pacer.show_apart(started=1.0, rendered=1.007)


def test_pacer_expects_showing_to_cost_what_it_last_did() -> None:
    pacer = FramePacer(frame_budget=0.012)
    pacer.shown(started=2.0, ended=2.010)  # a large block was put in the DOM: 10 ms
    assert pacer.show_apart(started=3.0, rendered=3.003)  # 3 + 10 ms: over
    pacer.shown(started=4.0, ended=4.001)
    assert not pacer.show_apart(started=5.0, rendered=5.003)  # 3 + 3 ms: within
