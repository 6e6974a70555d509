"""Formatting of server-sent event frames (HTML Standard §9.2.5), with no I/O."""

from __future__ import annotations

import json
import re

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def format_event(data: str, id: int | str | None = None, event: str | None = None) -> str:
    """One event: optional `event:` and `id:` lines, one `data:` line per line of `data`."""
    lines = []
    if event is not None:
        _check_field("event", event)
        lines.append(f"event: {event}")
    if id is not None:
        _check_field("id", str(id))
        lines.append(f"id: {id}")
    # A client joins several data lines with "\n", so multi-line data survives the trip.
    lines.extend(f"data: {line}" for line in _LINE_BREAK.split(data))
    return "\n".join(lines) + "\n\n"


def format_json_event(payload: object, id: int | None = None) -> str:
    """An event whose data is `payload` as compact JSON on one line."""
    # ensure_ascii=False: the stream is UTF-8, and a JSON escape can never be split apart.
    return format_event(json.dumps(payload, ensure_ascii=False, separators=(",", ":")), id=id)


def format_retry(milliseconds: int) -> str:
    """Sets the client's reconnection time; the blank line after it dispatches nothing."""
    if milliseconds < 0:
        raise ValueError("retry must not be negative")
    return f"retry: {milliseconds}\n\n"


def _check_field(name: str, value: str) -> None:
    # A line break would end the field early; a NUL makes clients ignore an id.
    if _LINE_BREAK.search(value) or "\0" in value:
        raise ValueError(f"an SSE {name} must be one line without NUL: {value!r}")
