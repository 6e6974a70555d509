"""A sans-I/O decoder for `text/event-stream` bytes, as the HTML Standard §9.2 interprets them."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["SSEDecoder", "ServerSentEvent"]


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event: its type, its data, and the stream's last event ID at dispatch."""

    event: str = "message"
    data: str = ""
    id: str = ""


class SSEDecoder:
    """Turns the bytes of one event stream, split anywhere, into the events the standard dispatches.

    `last_event_id` and `retry` outlive `close()`, as an `EventSource`'s last event ID string and
    reconnection time outlive a connection; setting `last_event_id` seeds the next stream with
    the ID a reconnect resumes from, as a browser's reconnect does.
    """

    def __init__(self) -> None:
        self._last_event_id = ""
        self.retry: int | None = None
        self._reset_stream()

    @property
    def last_event_id(self) -> str:
        """The last event ID string: set from the `id` field each time a blank line is seen."""
        return self._last_event_id

    @last_event_id.setter
    def last_event_id(self, value: str) -> None:
        self._last_event_id = value
        self._id_buffer = value

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode the next bytes of the stream and return the events they complete."""
        return self._feed_text(self._decoder.decode(chunk))

    def close(self) -> list[ServerSentEvent]:
        """End the stream: an event not ended by a blank line is discarded, so this returns [].

        The decoder can then read a new stream (a reconnection) from its first byte.
        """
        # Flushing only turns dangling bytes of a half character into U+FFFD, which can never
        # complete a line, so the flushed text is dropped along with the unfinished line.
        self._decoder.decode(b"", final=True)
        self._reset_stream()
        return []

    def _reset_stream(self) -> None:
        # "utf-8-sig" is the standard's UTF-8 decode: one leading BOM is skipped, even when its
        # three bytes arrive in separate chunks, and a BOM anywhere later is kept as text.
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        # The unfinished line is kept as pieces, joined once it ends, so a long line that
        # arrives in many small chunks costs linear time.
        self._line_pieces: list[str] = []
        # A chunk that ends with CR has ended its line, but an LF that starts the next chunk
        # belongs to the same line ending and must not be read as a blank line.
        self._skip_lf = False
        self._data_lines: list[str] = []
        self._event_type = ""
        self._id_buffer = self._last_event_id

    def _feed_text(self, text: str) -> list[ServerSentEvent]:
        if self._skip_lf and text:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
        events: list[ServerSentEvent] = []
        start = 0
        for line_end in _LINE_END.finditer(text):
            line = text[start : line_end.start()]
            if self._line_pieces:
                self._line_pieces.append(line)
                line = "".join(self._line_pieces)
                self._line_pieces.clear()
            self._process_line(line, events)
            start = line_end.end()
        if start < len(text):
            self._line_pieces.append(text[start:])
        elif text.endswith("\r"):
            self._skip_lf = True
        return events

    def _process_line(self, line: str, events: list[ServerSentEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line[0] == ":":
            return
        name, _colon, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data_lines.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id" and "\0" not in value:
            self._id_buffer = value
        # str.isdigit alone would also accept digits of other scripts, such as "٣".
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        self._last_event_id = self._id_buffer
        if self._data_lines:
            # Joining with LF is the standard's "append value and LF, then drop the last LF".
            data = "\n".join(self._data_lines)
            events.append(ServerSentEvent(self._event_type or "message", data, self._last_event_id))
        self._data_lines = []
        self._event_type = ""


_LINE_END = re.compile(r"\r\n|\r|\n")
