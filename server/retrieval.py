"""The offline answerer: ranks bundled passages with BM25 and writes a cited markdown answer."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from rank_bm25 import BM25Okapi

from server.answerers import Sleep, chunk_words
from server.corpus import Document, Passage, load_corpus
from server.events import AnswerEvent, Citation, Citations, Message, Token

#: How many passages an answer quotes at most.
TOP_PASSAGES = 3
_LONGEST_SENTENCE = 280

_STOP_TEXT = """a about an and are as at be by can could do does did for from has have how i if in
    into is it its me my of on or our so than that the their them then there these they this
    to was we were what when where which who why will with would you your tell explain"""
_STOP_WORDS = frozenset(_STOP_TEXT.split())


@dataclass(frozen=True)
class Reply:
    """A composed answer: its markdown and the sources its `[n]` markers refer to."""

    markdown: str
    citations: tuple[Citation, ...]


class RetrievalAnswerer:
    """Answers from the bundled corpus, deterministically, streaming 1–3 words per token."""

    def __init__(
        self,
        documents: Sequence[Document] | None = None,
        *,
        pace: float = 0.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.documents = list(load_corpus() if documents is None else documents)
        self.passages = [p for document in self.documents for p in document.passages()]
        self._bm25 = BM25Okapi([terms(_indexed_text(p)) for p in self.passages])
        self.pace = pace
        self._sleep = sleep

    async def answer(
        self, question: str, history: Sequence[Message], *, continuing: bool = False
    ) -> AsyncIterator[AnswerEvent]:
        # The history is ignored: the same question always gets the same answer.
        reply = self.compose(question)
        # Seeded by the question so that the chunking, too, is the same every time.
        for chunk in chunk_words(reply.markdown, random.Random(question)):
            if self.pace > 0:
                await self._sleep(self.pace)
            yield Token(chunk)
        if reply.citations:
            yield Citations(reply.citations)

    def rank(self, question: str) -> list[tuple[Passage, float]]:
        """The passages that share a term with `question`, best first (ties by position)."""
        query = terms(question)
        if not query or not self.passages:
            return []
        scores = [float(score) for score in self._bm25.get_scores(query)]
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        return [(self.passages[i], scores[i]) for i in order if scores[i] > 0]

    def compose(self, question: str) -> Reply:
        """The markdown answer to `question` and its citations."""
        ranked = self.rank(question)[:TOP_PASSAGES]
        heading = f"## {_heading(question)}\n\n"
        if not ranked:
            titles = "".join(f"- {d.title}\n" for d in sorted(self.documents, key=_by_title))
            return Reply(f"{heading}None of my sources mention that. Ask me about:\n\n{titles}", ())

        numbers: dict[str, int] = {}  # document name -> its citation number, by first use
        for passage, _ in ranked:
            numbers.setdefault(passage.document.name, len(numbers) + 1)
        sources = len(numbers)
        lead = (
            f"Here is what {_count(len(ranked), 'passage')} from {_count(sources, 'source')} "
            + ("says:" if len(ranked) == 1 else "say, the closest match first:")
            + "\n\n"
        )
        query = set(terms(question))
        bullets = "".join(
            f"- {_key_sentence(passage.text or passage.code or '', query)} "
            f"[{numbers[passage.document.name]}]\n"
            for passage, _ in ranked
        )
        with_code = next((p for p, _ in ranked if p.code is not None), None)
        if with_code is not None:
            extra = _code_block(with_code, numbers[with_code.document.name])
        else:
            extra = _relevance_table(ranked, numbers)
        by_number = {p.document.name: p.document for p, _ in ranked}
        citations = tuple(
            Citation(id=str(number), title=by_number[name].title, url=by_number[name].url)
            for name, number in numbers.items()
        )
        return Reply(f"{heading}{lead}{bullets}\n{extra}", citations)


def terms(text: str) -> list[str]:
    """Lower-case words without stop words, plurals folded, for matching."""
    return [_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP_WORDS]


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _indexed_text(passage: Passage) -> str:
    # The title counts, so that a question naming a topic finds that topic's document.
    return f"{passage.document.title} {passage.text} {passage.code or ''}"


def _heading(question: str) -> str:
    text = " ".join(question.split()).lstrip("#>*-+ ").rstrip("?!. ")
    if len(text) > 80:
        text = text[:80].rsplit(" ", 1)[0] + "…"
    return text[:1].upper() + text[1:] if text else "Your question"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _by_title(document: Document) -> str:
    return document.title


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'“‘(`])")


def _key_sentence(text: str, query: set[str]) -> str:
    """The sentence of `text` that shares most terms with the question (first on ties)."""
    sentences: list[str] = []
    for piece in _SENTENCE_END.split(text):
        # "Oh dear! Oh dear!" is one quotation: never end a sentence inside open quotes.
        if sentences and sentences[-1].count('"') % 2 == 1:
            sentences[-1] += " " + piece
        else:
            sentences.append(piece)
    best = max(sentences, key=lambda s: len(query.intersection(terms(s))))
    if len(best) > _LONGEST_SENTENCE:
        best = best[:_LONGEST_SENTENCE].rsplit(" ", 1)[0] + "…"
    return best


def _code_block(passage: Passage, number: int) -> str:
    code = passage.code or ""
    # A fence longer than any backtick run inside the code cannot be closed by the code.
    longest_run = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest_run + 1)
    return (
        f"The passage from *{passage.document.title}* [{number}] shows it in code:\n\n"
        f"{fence}{passage.language}\n{code}\n{fence}\n"
    )


def _relevance_table(ranked: list[tuple[Passage, float]], numbers: dict[str, int]) -> str:
    best: dict[str, float] = {}
    titles: dict[str, str] = {}
    for passage, score in ranked:
        best.setdefault(passage.document.name, score)  # ranked is best first
        titles[passage.document.name] = passage.document.title.replace("|", "\\|")
    top = max(best.values())
    rows = "".join(
        f"| [{number}] | {titles[name]} | {round(100 * best[name] / top)}% |\n"
        for name, number in numbers.items()
    )
    return f"| # | Source | Relevance |\n|:-:|:-------|----------:|\n{rows}"
