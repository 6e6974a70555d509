"""streamchat.sse: the HTML Standard's event-stream interpretation, however the bytes are split."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamchat.sse import ServerSentEvent, SSEDecoder


def message(data: str, id: str = "", event: str = "message") -> ServerSentEvent:
    return ServerSentEvent(event=event, data=data, id=id)


def decode(chunks: list[bytes]) -> tuple[list[ServerSentEvent], str, int | None]:
    """Every event the chunks yield, then the decoder's last event ID and retry."""
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    events += decoder.close()
    return events, decoder.last_event_id, decoder.retry


def split_at(stream: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *sorted(points), len(stream)]
    return [stream[start:end] for start, end in itertools.pairwise(bounds)]


# (name, stream, events, last_event_id, retry). The first block is the standard's examples.
CASES: list[tuple[str, bytes, list[ServerSentEvent], str, int | None]] = [
    (
        "standard: stock ticker, data lines joined by LF",
        b"data: YHOO\ndata: +2\ndata: 10\n\n",
        [message("YHOO\n+2\n10")],
        "",
        None,
    ),
    (
        "standard: comment block, id set then reset by a bare id, one space stripped",
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
        b"data:  third event\n\n",
        [message("first event", "1"), message("second event"), message(" third event")],
        "",
        None,
    ),
    (
        "standard: bare data lines; the last block has no blank line so is never dispatched",
        b"data\n\ndata\ndata\n\ndata:",
        [message(""), message("\n")],
        "",
        None,
    ),
    (
        "standard: with or without the space after the colon, the same event",
        b"data:test\n\ndata: test\n\n",
        [message("test"), message("test")],
        "",
        None,
    ),
    (
        "standard: event types",
        b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n",
        [
            message("73857293", event="add"),
            message("2153", event="remove"),
            message("113411", event="add"),
        ],
        "",
        None,
    ),
    (
        "standard: the id persists for later events that carry none",
        b"id: 7\ndata: a\n\ndata: b\n\n",
        [message("a", "7"), message("b", "7")],
        "7",
        None,
    ),
    (
        "standard: retry sets the reconnection time",
        b"retry: 10000\ndata: x\n\n",
        [message("x")],
        "",
        10000,
    ),
    ("CRLF line endings", b"data: a\r\ndata: b\r\n\r\n", [message("a\nb")], "", None),
    ("CR line endings", b"data: a\rdata: b\r\r", [message("a\nb")], "", None),
    ("mixed line endings", b"data: a\r\n\rdata: b\n\r\n", [message("a"), message("b")], "", None),
    ("LF CR is two line endings", b"data: a\n\rdata: b\n", [message("a")], "", None),
    ("a comment between fields", b"data: a\n: ping\ndata: b\n\n", [message("a\nb")], "", None),
    ("a lone comment dispatches nothing", b": ping\n\n", [], "", None),
    ("a colon starting the line is a comment", b":data: x\n\n", [], "", None),
    ("field without colon has empty value", b"data\n\n", [message("")], "", None),
    ("only one leading space is stripped", b"data:   x\n\n", [message("  x")], "", None),
    ("a tab is not stripped", b"data:\tx\n\n", [message("\tx")], "", None),
    ("trailing spaces are kept", b"data: x  \n\n", [message("x  ")], "", None),
    ("only the first colon splits", b"data: a:b: c\n\n", [message("a:b: c")], "", None),
    ("an empty data line adds an LF", b"data: a\ndata:\n\n", [message("a\n")], "", None),
    ("data that is only an LF", b"data:\ndata:\n\n", [message("\n")], "", None),
    ("field names are case-sensitive", b"Data: x\nDATA: y\n\n", [], "", None),
    ("a field name with a trailing space is unknown", b"data : x\n\n", [], "", None),
    ("unknown fields are ignored", b"foo: bar\ndata: x\nbaz\n\n", [message("x")], "", None),
    (
        "no data: no event, but the event type is reset",
        b"event: add\n\ndata: x\n\n",
        [message("x")],
        "",
        None,
    ),
    (
        "no data: no event, but the last event ID is still set",
        b"id: 3\n\n",
        [],
        "3",
        None,
    ),
    ("an empty event name means message", b"event:\ndata: x\n\n", [message("x")], "", None),
    (
        "the last event line wins",
        b"event: a\nevent: b\ndata: x\n\n",
        [message("x", event="b")],
        "",
        None,
    ),
    ("id with NUL is ignored", b"id: 1\n\nid: 2\x003\ndata: x\n\n", [message("x", "1")], "1", None),
    (
        "id may hold any other text",
        b"id: a b:c\ndata: x\n\n",
        [message("x", "a b:c")],
        "a b:c",
        None,
    ),
    ("the last id line wins", b"id: 1\nid: 2\ndata: x\n\n", [message("x", "2")], "2", None),
    (
        "an empty id resets the last event ID",
        b"id: 5\ndata: a\n\nid:\ndata: b\n\n",
        [message("a", "5"), message("b")],
        "",
        None,
    ),
    (
        "an id is set only when its block ends",
        b"id: 1\ndata: a\n\nid: 2\ndata: b",
        [message("a", "1")],
        "1",
        None,
    ),
    ("retry with a non-digit is ignored", b"retry: 10x\n\nretry: 1.5\n\n", [], "", None),
    ("retry with a space is ignored", b"retry:  10\n\nretry: 10 \n\n", [], "", None),
    ("retry with non-ASCII digits is ignored", "retry: ٣\n\n".encode(), [], "", None),
    ("an empty retry is ignored", b"retry: 50\nretry:\nretry\n\n", [], "", 50),
    ("retry zero is kept", b"retry: 0\n\n", [], "", 0),
    ("retry takes effect without a blank line", b"retry: 25\ndata: x", [], "", 25),
    ("the last retry wins", b"retry: 1\nretry: 2\n\n", [], "", 2),
    ("an unterminated event is never dispatched", b"data: x\n", [], "", None),
    ("an unterminated line is never processed", b"data: x\n\ndata: y", [message("x")], "", None),
    ("blank lines in a row dispatch once", b"data: x\n\n\n\n", [message("x")], "", None),
    ("a leading BOM is stripped", b"\xef\xbb\xbfdata: x\n\n", [message("x")], "", None),
    (
        "only one leading BOM is stripped",
        b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n",
        [message("y")],
        "",
        None,
    ),
    ("a BOM later on is text", b"data: \xef\xbb\xbfx\n\n", [message("\ufeffx")], "", None),
    ("multi-byte UTF-8", "data: héllo €𝄞 日本\n\n".encode(), [message("héllo €𝄞 日本")], "", None),
    ("invalid UTF-8 becomes U+FFFD", b"data: a\xffb\n\n", [message("a\ufffdb")], "", None),
    (
        "a truncated sequence becomes one U+FFFD",
        b"data: a\xe2\x82\n\n",
        [message("a\ufffd")],
        "",
        None,
    ),
    ("a bad BOM start is replaced", b"\xef\xbbdata: x\n\n", [], "", None),
    ("NUL in data is kept", b"data: a\x00b\n\n", [message("a\x00b")], "", None),
    (
        "other line separators are not line endings",
        "data: a\u2028b\x0bc\x0cd\x85e\n\n".encode(),
        [message("a\u2028b\x0bc\x0cd\x85e")],
        "",
        None,
    ),
    ("empty stream", b"", [], "", None),
]
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("name", "stream", "events", "last_id", "retry"), CASES, ids=IDS)
def test_whole_stream(
    name: str, stream: bytes, events: list[ServerSentEvent], last_id: str, retry: int | None
) -> None:
    assert decode([stream]) == (events, last_id, retry)


@pytest.mark.parametrize(("name", "stream", "events", "last_id", "retry"), CASES, ids=IDS)
def test_byte_by_byte(
    name: str, stream: bytes, events: list[ServerSentEvent], last_id: str, retry: int | None
) -> None:
    assert decode([stream[i : i + 1] for i in range(len(stream))]) == (events, last_id, retry)


@pytest.mark.parametrize(("name", "stream", "events", "last_id", "retry"), CASES, ids=IDS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_split(
    name: str,
    stream: bytes,
    events: list[ServerSentEvent],
    last_id: str,
    retry: int | None,
    data: st.DataObject,
) -> None:
    points = data.draw(st.lists(st.integers(0, len(stream))), label="split points")
    assert decode(split_at(stream, points)) == (events, last_id, retry)


@given(
    fields=st.lists(
        st.sampled_from(
            [
                "data: é€𝄞",
                "data",
                "data:x",
                "id: 4",
                "id",
                "event: e",
                "retry: 9",
                ": c",
                "",
                "x: y",
            ]
        )
    ),
    endings=st.lists(st.sampled_from(["\n", "\r", "\r\n"]), min_size=1),
    points=st.lists(st.integers(0, 400)),
)
@settings(max_examples=300, deadline=None)
def test_generated_streams_decode_the_same_however_split(
    fields: list[str], endings: list[str], points: list[int]
) -> None:
    text = "".join(field + endings[i % len(endings)] for i, field in enumerate(fields))
    stream = text.encode()
    assert decode(split_at(stream, [p for p in points if p <= len(stream)])) == decode([stream])


def test_cr_at_chunk_end_then_lf_is_one_line_ending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # Had the LF been read as a second line ending, this blank line would dispatch "a".
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r") == [message("a\nb")]
    assert decoder.feed(b"\n") == []


def test_event_is_dispatched_as_soon_as_its_blank_line_arrives() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\r") == [message("a")]


def test_multi_byte_character_split_across_chunks() -> None:
    decoder = SSEDecoder()
    snowman = "☃".encode()
    assert decoder.feed(b"data: " + snowman[:1]) == []
    assert decoder.feed(snowman[1:2]) == []
    assert decoder.feed(snowman[2:] + b"\n\n") == [message("☃")]


def test_bom_split_across_chunks_is_still_stripped() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef") == []
    assert decoder.feed(b"\xbb") == []
    assert decoder.feed(b"\xbfdata: x\n\n") == [message("x")]


def test_close_discards_the_unfinished_event_and_starts_a_new_stream() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"retry: 3000\nid: 1\ndata: a\n\nid: 2\nevent: e\ndata: half\xe2") == [
        message("a", "1")
    ]
    assert decoder.close() == []
    # The reconnection's stream starts afresh (its BOM is stripped again) but keeps the
    # last event ID and the reconnection time, as an EventSource does.
    assert decoder.last_event_id == "1"
    assert decoder.retry == 3000
    assert decoder.feed(b"\xef\xbb\xbfdata: b\n\n") == [message("b", "1")]


def test_close_after_a_cr_does_not_swallow_the_next_streams_lf() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a\r")
    decoder.close()
    assert decoder.feed(b"\ndata: b\n\n") == [message("b")]


def test_setting_last_event_id_seeds_the_next_event() -> None:
    decoder = SSEDecoder()
    decoder.last_event_id = "41"
    assert decoder.feed(b"data: a\n\nid: 42\ndata: b\n\n") == [
        message("a", "41"),
        message("b", "42"),
    ]


def test_a_long_line_in_many_small_chunks() -> None:
    payload = "x" * 200_000
    stream = f"data: {payload}\n\n".encode()
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for start in range(0, len(stream), 7):
        events += decoder.feed(stream[start : start + 7])
    assert events == [message(payload)]


def test_events_are_frozen() -> None:
    event = message("x")
    with pytest.raises(AttributeError):
        event.data = "y"  # type: ignore[misc]
