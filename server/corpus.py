"""The bundled documents the offline answerer quotes: parsing and splitting into passages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"


@dataclass(frozen=True)
class Passage:
    """A paragraph of a document, with the code block that follows it, if any."""

    document: Document
    text: str
    code: str | None = None
    language: str = ""


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


_FENCE = re.compile(r"^```([\w+-]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def split_passages(document: Document) -> list[Passage]:
    """Paragraphs in order; a fenced code block belongs to the paragraph before it."""
    passages: list[Passage] = []
    position = 0
    for fence in _FENCE.finditer(document.body):
        prose = _paragraphs(document.body[position : fence.start()])
        passages.extend(Passage(document, paragraph) for paragraph in prose[:-1])
        code = fence.group(2).rstrip("\n")
        lead = prose[-1] if prose else ""
        passages.append(Passage(document, lead, code=code, language=fence.group(1)))
        position = fence.end()
    passages.extend(Passage(document, p) for p in _paragraphs(document.body[position:]))
    return passages


def _paragraphs(text: str) -> list[str]:
    return [" ".join(block.split()) for block in re.split(r"\n\s*\n", text) if block.strip()]
