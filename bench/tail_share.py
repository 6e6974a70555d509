"""Tail share: how many animation frames of a streamed answer render the open tail again,
and why, measured in CPython (no browser).

Each frame the page either appends the new text to the open tail's HTML (`AppendTail`,
`streamchat/tail_append.py`), or renders the tail again through Python-Markdown (~0.9 ms a
frame in Pyodide), or finishes a block. This feeds `StreamRenderer` (as the page's
`IncrementalSink` does: `colour_later=True`, one `feed` per frame) with answers chopped as
the page sees them at 200 tokens/s and 60 frames/s, and counts per frame:
- *append*: no render (`AppendTail`, or nothing: text held back);
- *tail render*: the open tail rendered again (whether its HTML changed or not), no
  block finished;
- *block*: a block finished (rendered once; the tail after it usually rendered too).
Each tail render is put down to the first condition of the shortcut that its frame fails
(`cause`), judged from the text alone, so the causes read the same before and after a
change of the rules.

Two choppings: *tokens*, ~4-character tokens split as an LLM tokenizer would (a word with
its leading space, punctuation apart, each line break alone), 3 or 4 a frame (200/s at
60 fps); *echo:5*, what bench/stream_cost.py streams (the back end's `echo:5,pace:0.005`:
5 characters every 5 ms, ~16–17 characters a frame). Answers: bench/render.py's 20 KB
answer, and the 13 answers of tests/unit/corpus/ together.

Time: `feed`'s CPython cost per frame over the 20 KB answer (`time.perf_counter`, each
frame's fastest of `--repeat` runs of the whole answer, which the machine's other work
disturbs least), total and by kind of frame.

`python -m bench.tail_share` prints the tables (~10 s).
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from bench.render import CORPUS, answer_text
from streamchat.heal import heal
from streamchat.md_extensions import Definition
from streamchat.md_syntax import opening_fence
from streamchat.render import RenderedBlock, render_parts
from streamchat.stream_render import AppendBlock, StreamRenderer

TOKENS_PER_S = 200
FRAMES_PER_S = 60
ECHO_CHARS = 5

#: An LLM-like token: a word (at most 8 letters a piece) or number with the space before
#: it, a run of 1–3 punctuation characters with the space before it, a line break alone,
#: spaces (all but the one a word takes). About 4 characters on average in English prose.
_TOKEN = re.compile(r" ?[^\W\d_]{1,8}| ?\d{1,3}| ?(?:[^\w\s]|_){1,3}|\n| +(?= )| +|\s|.", re.DOTALL)
#: Markdown's characters in the middle of a line (`streamchat.tail_append._INERT`'s others).
_ACTIVE = re.compile(r"[^\w ,.;?!'\"-]|_")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def frames_of_tokens(text: str) -> list[str]:
    """The text as frames of tokens at TOKENS_PER_S, FRAMES_PER_S (3, 3, 4, 3, 3, 4, …)."""
    parts = tokens(text)
    assert "".join(parts) == text
    return _in_frames(parts)


def frames_of_echo(text: str) -> list[str]:
    """The text as bench/stream_cost.py streams it: ECHO_CHARS every 5 ms, in 60 fps frames."""
    return _in_frames([text[i : i + ECHO_CHARS] for i in range(0, len(text), ECHO_CHARS)])


def _in_frames(parts: list[str]) -> list[str]:
    """`parts` arriving at TOKENS_PER_S, joined per frame at FRAMES_PER_S."""
    frames: list[str] = []
    start, frame = 0, 0
    while start < len(parts):
        frame += 1
        end = frame * TOKENS_PER_S // FRAMES_PER_S
        frames.append("".join(parts[start:end]))
        start = end
    return frames


CHOPPINGS: dict[str, Callable[[str], list[str]]] = {
    "tokens": frames_of_tokens,
    "echo:5": frames_of_echo,
}


@dataclass
class Share:
    frames: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    causes: Counter[str] = field(default_factory=Counter)
    #: Per frame, in order: what it did, and the seconds `feed` took.
    frame_kinds: list[str] = field(default_factory=list)
    frame_seconds: list[float] = field(default_factory=list)

    def add(self, other: Share) -> None:
        self.frames += other.frames
        self.kinds.update(other.kinds)
        self.causes.update(other.causes)


def measure(frames: list[str]) -> Share:
    """Feeds the frames to a renderer as the page does; what each frame did and why."""
    share = Share()
    renders = [0]

    def render_block(
        block: str,
        citations: Mapping[str, str] | None,
        references: Mapping[str, Definition] | None,
        *,
        highlight: bool = True,
    ) -> RenderedBlock:
        renders[0] += 1
        return render_parts(block, citations, references, highlight=highlight)

    renderer = StreamRenderer(render_block, colour_later=True)
    for delta in frames:
        before = _State.of(renderer)
        renders[0] = 0
        started = time.perf_counter()
        patches = renderer.feed(delta)
        took = time.perf_counter() - started
        if any(isinstance(patch, AppendBlock) for patch in patches):
            kind = "block"
        elif not renders[0]:  # appended, or held back (nothing to show yet)
            kind = "append"
        else:
            kind = "tail render"
            share.causes[cause(before, delta)] += 1
        share.frames += 1
        share.kinds[kind] += 1
        share.frame_kinds.append(kind)
        share.frame_seconds.append(took)
        while renderer.uncoloured:  # the page colours finished code when idle
            renderer.colour_next()
    renderer.finish()
    return share


@dataclass(frozen=True)
class _State:
    """What the renderer held before a frame (read from its private state: this is a
    diagnostic)."""

    tail: str
    kind: str | None
    long: bool

    @classmethod
    def of(cls, renderer: StreamRenderer) -> _State:
        return cls(renderer._tail_text, renderer._tail_kind, renderer._long is not None)


def cause(before: _State, delta: str) -> str:
    """Why a frame that rendered the tail could not append, judged from the text: the
    first of these that holds, in the order the shortcut checks them."""
    tail = before.tail
    line = tail[tail.rfind("\n") + 1 :]
    if before.long:
        return "tail: long list or table (cut in pieces)"
    if _in_open_fence(tail.split("\n")[:-1]):
        if re.search(r"[`~]", line + delta):
            return "code: fence character in the last line"
        if line.endswith(" ") or delta.endswith(" "):
            return "code: ends with a space"
        return "code: other (indented or nested fence, tab…)"
    if _heal(tail) != tail:
        if line.startswith("|") or "\n|" in tail:
            return "tail: table (healed)"
        if "\n" not in tail.strip("\n") and _BLOCK_START.match(line):
            return "tail: block marker being written"
        return "tail: healed (open emphasis, code span, link…)"
    if not line.strip():
        return "tail: new line (" + ("blank" if not tail.strip() else "after a break") + ")"
    if "\n" in delta:
        if "\n" in delta.rstrip("\n") or delta.endswith("\n\n"):
            return "delta: line breaks (several, or a blank line)"
        return "delta: one line break"
    found = _ACTIVE.search(delta)
    if found is None and delta.endswith(" "):
        return "delta: ends with a space"
    if found is not None:
        char = found.group()
        named = char if char in "*_`[]()<>&\\$~|:#@/+=" else "other"
        return f"delta: markdown character {named}"
    if line.endswith(" "):
        return "tail: ends with a space"
    if _PLAIN_LINE.match(line) is None:
        if line.lstrip().startswith("|"):
            return "tail: table row"
        if line.lstrip().startswith("#"):
            return "tail: heading"
        return "tail: last line not plain (digit, marker…)"
    if _ACTIVE.search(line[line.rfind(" ") + 1 :]):
        return "tail: last word has a markdown character"
    return "other (link-like, limits, tail's HTML)"


#: The start of a line that may be a block's marker being written.
_BLOCK_START = re.compile(r" {0,3}(?:[-+*] |\d{1,9}[.)]|>|#|\||[-=_*]{2,}|<|`{3}|~{3}| {4})")
#: As `streamchat.tail_append._PLAIN_LINE` was when this was written.
_PLAIN_LINE = re.compile(r" {0,3}(?:(?:[-+*]|\d{1,9}[.)]) {1,4}|> ?)*(?:[*_`]{1,3})?[^\W\d_]")


def _in_open_fence(lines: list[str]) -> bool:
    fence = None
    for line in lines:
        if fence is None:
            fence = opening_fence(line)
        elif fence.is_closed_by(line):
            fence = None
    return fence is not None


def _heal(tail: str) -> str:
    try:
        return heal(tail)
    except Exception:  # as StreamRenderer does
        return tail


def timing(frames: list[str], repeat: int) -> tuple[Share, dict[str, float]]:
    """Seconds of `feed` in all and per kind of frame: each frame's fastest of `repeat`
    runs of the whole answer (a frame that another process interrupted in one run is
    timed by another run)."""
    runs = [measure(frames) for _ in range(repeat)]
    fastest = [min(times) for times in zip(*(run.frame_seconds for run in runs), strict=True)]
    seconds: defaultdict[str, float] = defaultdict(float)
    for kind, took in zip(runs[0].frame_kinds, fastest, strict=True):
        seconds[kind] += took
        seconds["all"] += took
    return runs[0], seconds


def corpus_answers() -> Iterator[str]:
    for path in sorted(CORPUS.glob("*.md")):
        yield path.read_text(encoding="utf-8")


def table(title: str, share: Share) -> str:
    rows = [f"{title}: {share.frames} frames"]
    for kind in ("append", "tail render", "block"):
        count = share.kinds[kind]
        rows.append(f"  {kind:<60} {count:6d} {100 * count / share.frames:6.1f} %")
        if kind == "tail render":
            for name, number in share.causes.most_common():
                rows.append(f"    {name:<58} {number:6d} {100 * number / share.frames:6.1f} %")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs for the timing")
    args = parser.parse_args()
    answer = answer_text()
    for name, chop in CHOPPINGS.items():
        frames = chop(answer)
        mean = len(answer) / len(frames)
        print(table(f"20 KB answer, {name} ({mean:.1f} characters a frame)", measure(frames)))
        corpus = Share()
        for text in corpus_answers():
            corpus.add(measure(chop(text)))
        print(table(f"13 corpus answers, {name}", corpus))
        print()
    print(f"feed's CPython time over the 20 KB answer (each frame's fastest of {args.repeat}):")
    for name, chop in CHOPPINGS.items():
        frames = chop(answer)
        share, seconds = timing(frames, args.repeat)
        per = ", ".join(
            f"{kind} {1e6 * seconds[kind] / share.kinds[kind]:.0f} µs"
            for kind in ("append", "tail render", "block")
            if share.kinds[kind]
        )
        print(
            f"  {name}: {1e3 * seconds['all']:.1f} ms in all, "
            f"{1e6 * seconds['all'] / len(frames):.0f} µs a frame ({per})"
        )


if __name__ == "__main__":
    main()
