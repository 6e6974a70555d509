"""The bundled documents the offline answerer quotes: parsing and splitting into passages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"

FigureKind = Literal["code", "table", "list"]


@dataclass(frozen=True)
class Figure:
    """A block that is not prose: code (without its fences), or a table or list as written."""

    kind: FigureKind
    body: str
    language: str = ""


@dataclass(frozen=True)
class Passage:
    """A paragraph of a document, with the code block, table or list that follows it, if any."""

    document: Document
    text: str
    figure: Figure | None = None


@dataclass(frozen=True)
class Document:
    """A short markdown document with a title and the URL of its source."""

    name: str
    title: str
    url: str
    body: str

    def passages(self) -> list[Passage]:
        return split_passages(self)


class CorpusError(ValueError):
    """A corpus document lacks its header lines."""


def parse_document(name: str, text: str) -> Document:
    """Reads `key: value` header lines up to the first blank line, then the markdown body."""
    header, _, body = text.partition("\n\n")
    fields = {}
    for line in header.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            raise CorpusError(f"{name}: header line without a colon: {line!r}")
        fields[key.strip().lower()] = value.strip()
    if not fields.get("title") or not fields.get("source"):
        raise CorpusError(f"{name}: needs title: and source: lines before the first blank line")
    return Document(name=name, title=fields["title"], url=fields["source"], body=body.strip())


def load_corpus(directory: Path = CORPUS_DIR) -> list[Document]:
    """Every `*.md` document in `directory`, in file-name order so ranking is stable."""
    return [
        parse_document(path.stem, path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.md"))
    ]


def split_passages(document: Document) -> list[Passage]:
    """Paragraphs in order; a code block, table or list belongs to the paragraph before it.

    A figure with no paragraph of its own before it (two figures in a row) is a passage
    without text.
    """
    passages: list[Passage] = []
    previous_was_prose = False
    for block in _blocks(document.body):
        if isinstance(block, str):
            passages.append(Passage(document, block))
            previous_was_prose = True
            continue
        if previous_was_prose:
            passages[-1] = Passage(document, passages[-1].text, block)
        else:
            passages.append(Passage(document, "", block))
        previous_was_prose = False
    return passages


_FENCE_OPEN = re.compile(r"^(`{3,})([\w+-]*)[ \t]*$")
_LIST_ITEM = re.compile(r"^(?:[-*+]|\d+[.)])[ \t]")


def _blocks(body: str) -> list[str | Figure]:
    """The body's blocks in order: prose paragraphs (whitespace folded) and figures."""
    lines = body.splitlines()
    blocks: list[str | Figure] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE_OPEN.match(line)
        if fence:
            # A fence closes on a line of at least as many backticks (or at the end).
            closing = re.compile(rf"^{fence.group(1)}`*[ \t]*$")
            end = next(
                (i for i in range(index + 1, len(lines)) if closing.match(lines[i])), len(lines)
            )
            code = "\n".join(lines[index + 1 : end]).rstrip("\n")
            blocks.append(Figure("code", code, fence.group(2)))
            index = end + 1
        elif not line.strip():
            index += 1
        else:
            end = index
            while end < len(lines) and lines[end].strip() and not _FENCE_OPEN.match(lines[end]):
                end += 1
            blocks.append(_classify(lines[index:end]))
            index = end
    return blocks


def _classify(lines: list[str]) -> str | Figure:
    if all(line.lstrip().startswith("|") for line in lines):
        return Figure("table", "\n".join(line.strip() for line in lines))
    if _LIST_ITEM.match(lines[0]):
        return Figure("list", "\n".join(line.rstrip() for line in lines))
    return " ".join(" ".join(lines).split())
