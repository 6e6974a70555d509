"""server/sse.py: the bytes of each kind of frame."""

from __future__ import annotations

import pytest

from server.sse import format_event, format_json_event, format_retry


@pytest.mark.parametrize(
    ("data", "event_id", "expected"),
    [
        ("[DONE]", None, "data: [DONE]\n\n"),
        ('{"a":1}', 3, 'id: 3\ndata: {"a":1}\n\n'),
        ("one\ntwo", None, "data: one\ndata: two\n\n"),
        ("one\r\ntwo\rthree", "7", "id: 7\ndata: one\ndata: two\ndata: three\n\n"),
        ("", None, "data: \n\n"),
        ("trailing\n", None, "data: trailing\ndata: \n\n"),
    ],
)
def test_format_event_writes_one_data_line_per_line(
    data: str, event_id: int | str | None, expected: str
) -> None:
    assert format_event(data, id=event_id) == expected


def test_format_event_names_the_event_type() -> None:
    assert format_event("x", id=1, event="note") == "event: note\nid: 1\ndata: x\n\n"


@pytest.mark.parametrize("bad_id", ["1\n2", "a\rb", "nul\0"])
def test_format_event_refuses_an_id_that_would_break_the_stream(bad_id: str) -> None:
    with pytest.raises(ValueError, match="one line"):
        format_event("x", id=bad_id)


def test_json_events_are_compact_utf8_on_one_line() -> None:
    frame = format_json_event({"type": "token", "text": "é\n→ 😀"}, id=2)
    assert frame == 'id: 2\ndata: {"type":"token","text":"é\\n→ 😀"}\n\n'


def test_retry() -> None:
    assert format_retry(1500) == "retry: 1500\n\n"
    with pytest.raises(ValueError, match="negative"):
        format_retry(-1)
