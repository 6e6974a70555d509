"""The offline answerer: finds bundled passages with BM25 and explains from them, or says it
does not know."""

from __future__ import annotations

import asyncio
import math
import random
import re
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from rank_bm25 import BM25Okapi

from server.answerers import Sleep, chunk_words
from server.corpus import Document, Figure, Passage, load_corpus
from server.events import AnswerEvent, Citation, Citations, Message, Token

#: How many passages an answer quotes at most.
TOP_PASSAGES = 3
#: A passage is quoted only if it scores at least this share of the best passage's score;
#: a weaker one shares a word or two with the question by chance and would only pad.
RELATIVE_FLOOR = 0.6
#: The relevance floor. The passages quoted must contain at least this share of the
#: question's terms, each weighted by its rarity in the corpus; below it the answer is "I
#: don't know". So one common word in common ("browser", "long") is not a match, and a word
#: no source uses at all ("weather") counts most against one.
COVERAGE_FLOOR = 0.5
#: A question that only names a document's subject ("What is PyScript?") is answered from
#: the document's first paragraph, which says what the subject is, rather than from the one
#: that repeats its name most: this factor favours it.
OPENING_BONUS = 1.2
#: The prose of an answer (its figure aside) stops growing once it is this long.
_LONGEST_PROSE = 700

_LONGEST_SENTENCE = 280
#: An excerpt is the key sentence and a neighbour if both fit in this, else the key alone.
_LONGEST_LEAD = 420
#: A "don't know" names at most this many of the words no source mentions.
_UNKNOWN_WORDS_SHOWN = 4

_STOP_TEXT = """a about above after again against all also am an and any anyone anything are
    as at be because been before being below between both but by can could did do does doing
    during each either else ever every few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just kind let me more most
    my myself no nor not now of off on once only or other our ours ourselves out over own
    please same she should so some someone something such than that the their theirs them
    themselves then there these they this those through to too under until up very was we
    were what whatever when where whether which while who whom whose why will with would you
    your yours yourself yourselves tell explain describe know mean hi hello hey thanks thank
    ok okay"""
_STOP_WORDS = frozenset(_STOP_TEXT.split())
#: What follows an apostrophe in "what's", "we're", "they've", "we'll", "I'd", "I'm": dropped.
_CLITICS = frozenset({"s", "re", "ve", "ll", "d", "m"})


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
        indexed = [terms(_indexed_text(p)) for p in self.passages]
        self._bm25 = BM25Okapi(indexed) if indexed else None
        self._passage_terms = [frozenset(passage_terms) for passage_terms in indexed]
        self._passage_count = Counter(t for found in self._passage_terms for t in found)
        # A document's title terms for its first passage, nothing for the others.
        self._opening_terms = [
            frozenset(terms(p.document.title))
            if i == 0 or self.passages[i - 1].document is not p.document
            else frozenset()
            for i, p in enumerate(self.passages)
        ]
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
        return [(self.passages[i], score) for i, score in self._ranked(terms(question))]

    def relevance(self, question: str) -> float:
        """How much of `question` the best passages contain, from 0 to 1: the share of its
        terms, each weighted by its rarity. Below `COVERAGE_FLOOR` the answer is "I don't
        know"."""
        query = set(terms(question))
        if not query:
            return 0.0
        found: set[str] = set()
        for i in self._candidates(question):
            found |= self._passage_terms[i]
        weights = {term: self._weight(term) for term in query}
        return sum(w for term, w in weights.items() if term in found) / sum(weights.values())

    def select(self, question: str) -> list[Passage]:
        """The passages worth quoting for `question`, best first; none if it is not covered."""
        if self.relevance(question) < COVERAGE_FLOOR:
            return []
        return [self.passages[i] for i in self._candidates(question)]

    def compose(self, question: str) -> Reply:
        """The markdown answer to `question` and its citations.

        A paragraph from the best passage, one from the others (in the order of their
        sources), and the first code block, table or list among them: under the lead
        paragraph when that ends where its passage does, as in the source, else introduced
        at the end. Every sentence carries its source's marker.
        """
        chosen = self.select(question)
        if not chosen:
            return Reply(self._not_known(question), ())
        query = set(terms(question))
        first = chosen[0]
        lead = [(first.document, s) for s in self._excerpt(first, query, lead=True)]
        more = self._more(chosen, query, used=[s for _, s in lead])
        shown = next((p for p in chosen if p.figure is not None), None)

        # Sources are numbered in the order the text first cites them.
        cited = [d for d, _ in lead] + [d for d, _ in more] + ([shown.document] if shown else [])
        numbers: dict[str, int] = {}
        for document in cited:
            numbers.setdefault(document.name, len(numbers) + 1)

        under_lead = shown is first and bool(lead) and lead[-1][1] == _sentences(first.text)[-1]
        blocks = [_paragraph(lead, numbers)]
        if shown is not None and shown.figure is not None and under_lead:
            blocks.append(_figure(shown.figure, None))
        blocks.append(_paragraph(more, numbers))
        if shown is not None and shown.figure is not None and not under_lead:
            blocks.append(_figure(shown.figure, numbers[shown.document.name]))

        by_name = {document.name: document for document in cited}
        citations = tuple(
            Citation(id=str(number), title=by_name[name].title, url=by_name[name].url)
            for name, number in numbers.items()
        )
        return Reply("\n\n".join(b for b in blocks if b) + "\n", citations)

    def _more(
        self, chosen: list[Passage], query: set[str], used: list[str]
    ) -> list[tuple[Document, str]]:
        """Sentences from the passages after the first, while the answer stays short."""
        sources = list(dict.fromkeys(p.document.name for p in chosen))
        rest = sorted(
            chosen[1:], key=lambda p: (sources.index(p.document.name), self.passages.index(p))
        )
        length = sum(map(len, used))
        more: list[tuple[Document, str]] = []
        for passage in rest:
            # Both sentences if they fit in what is left, or else the better one alone.
            for most in (2, 1):
                fresh = [
                    s for s in self._excerpt(passage, query, lead=False, most=most) if s not in used
                ]
                if fresh and length + sum(map(len, fresh)) <= _LONGEST_PROSE:
                    more.extend((passage.document, s) for s in fresh)
                    used = [*used, *fresh]
                    length += sum(map(len, fresh))
                    break
        return more

    def _candidates(self, question: str) -> list[int]:
        """The best passages (by index) and those scoring nearly as well, up to TOP_PASSAGES."""
        ranked = self._ranked(terms(question))[:TOP_PASSAGES]
        return [i for i, score in ranked if score >= RELATIVE_FLOOR * ranked[0][1]]

    def _ranked(self, query: list[str]) -> list[tuple[int, float]]:
        if not query or self._bm25 is None:
            return []
        distinct = set(query)
        scores = [
            float(score) * (OPENING_BONUS if distinct <= self._opening_terms[i] else 1.0)
            for i, score in enumerate(self._bm25.get_scores(query))
        ]
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        return [(i, scores[i]) for i in order if scores[i] > 0]

    def _weight(self, term: str) -> float:
        # BM25's idf, kept positive: a term in every passage still weighs a little, and one
        # in none weighs most.
        count, total = self._passage_count[term], len(self.passages)
        return math.log(1 + (total - count + 0.5) / (count + 0.5))

    def _overlap(self, sentence: str, query: set[str]) -> float:
        return sum(self._weight(term) for term in query.intersection(terms(sentence)))

    def _excerpt(
        self, passage: Passage, query: set[str], *, lead: bool, most: int = 2
    ) -> list[str]:
        """The key sentence of the passage (the one sharing most with the question, the first
        on ties) and, if both fit, the neighbour that shares more with the question (on a tie
        the one before, which sets the scene; the one after often says "it").

        Outside the lead, the neighbour comes only if it shares a term with the question
        beyond its source's title (every sentence of "Server-sent events" is about events),
        or if the key sentence leans on the one before ("When it reconnects…").
        """
        sentences = _sentences(passage.text)
        if not sentences:
            return []
        overlaps = [self._overlap(s, query) for s in sentences]
        key = max(range(len(sentences)), key=lambda i: (overlaps[i], -i))
        neighbours = [i for i in (key - 1, key + 1) if 0 <= i < len(sentences)]
        if not lead:
            beyond_title = query - set(terms(passage.document.title))
            neighbours = [
                i
                for i in neighbours
                if self._overlap(sentences[i], beyond_title) > 0
                or (i < key and _leans_back(sentences[key]))
            ]
        if most < 2 or not neighbours:
            return [sentences[key]]
        other = max(neighbours, key=lambda i: (overlaps[i], -i))
        pair = [sentences[min(key, other)], sentences[max(key, other)]]
        return pair if sum(map(len, pair)) <= _LONGEST_LEAD else [sentences[key]]

    def _not_known(self, question: str) -> str:
        topics = "".join(f"- {d.title}\n" for d in sorted(self.documents, key=_by_title))
        if not terms(question):  # "Hello!", "?": nothing to look up
            return f"Ask me about one of my sources:\n\n{topics}"
        unknown = self._unknown_words(question)
        if unknown:
            named = _join([f"*{word}*" for word in unknown[:_UNKNOWN_WORDS_SHOWN]])
            lead = f"I don't know. None of my sources mention {named}, so I would only be guessing."
        else:
            lead = "I don't know. My sources share some words with that, but none answers it."
        return f"{lead}\n\nI can answer questions about:\n\n{topics}"

    def _unknown_words(self, question: str) -> list[str]:
        """The question's words, as written, that no passage contains."""
        unknown: dict[str, str] = {}
        for word in _words(question):
            found = terms(word)
            if found and not any(self._passage_count[term] for term in found):
                unknown.setdefault(word.casefold(), word.replace("_", r"\_"))
        return list(unknown.values())


def terms(text: str) -> list[str]:
    """The words that carry meaning, for matching: lower case, without stop words and
    contractions, endings folded; a hyphenated word also counts joined ("back-off" gives
    "back" and "backoff")."""
    found: list[str] = []
    for word in _words(text):
        lowered = word.casefold()
        if lowered in _STOP_WORDS:
            continue
        parts = [p for p in re.split(r"[-_']", lowered) if p not in _STOP_WORDS]
        found.extend(_stem(p) for p in parts)
        if "-" in lowered or "_" in lowered:
            found.append(_stem(re.sub(r"[-_']", "", lowered)))
    return found


_WORD = re.compile(r"[^\W_]+(?:[-_'’][^\W_]+)*")


def _words(text: str) -> list[str]:
    """The words of `text` as written, with "'s", "'re", "'ve"… taken off and "n't" words
    (all of them stop words) left out."""
    words: list[str] = []
    for match in _WORD.finditer(text):
        word = match.group().replace("’", "'")
        base, apostrophe, clitic = word.rpartition("'")
        if apostrophe and clitic.casefold() in _CLITICS:
            word = base
        elif apostrophe and clitic.casefold() == "t" and base.casefold().endswith("n"):
            continue
        words.append(word.replace("'", ""))
    return words


def _stem(word: str) -> str:
    """Folds plurals and -ed/-ing forms together: "drops", "dropped", "dropping" → "drop"."""
    if len(word) > 4 and word.endswith(("ies", "ied")):
        return word[:-3] + "y"
    if len(word) >= 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        stem = word.removesuffix(suffix)
        if stem != word and len(stem) >= 3 and re.search(r"[aeiouy]", stem):
            word = stem
            if word[-1] == word[-2] and word[-1] not in "lsz":  # "dropp" → "drop"
                word = word[:-1]
            break
    if word.endswith("ction"):  # "reconnection" → "reconnect"
        word = word[:-3]
    if len(word) > 3 and word.endswith("e"):  # "resume", "resumed" → "resum"
        word = word[:-1]
    return word


def _indexed_text(passage: Passage) -> str:
    # The title counts, so that a question naming a topic finds that topic's document.
    figure = passage.figure.body if passage.figure is not None else ""
    return f"{passage.document.title} {passage.text} {figure}"


def _by_title(document: Document) -> str:
    return document.title


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'“‘(`])")


def _sentences(text: str) -> list[str]:
    sentences: list[str] = []
    for piece in _SENTENCE_END.split(text):
        # "Oh dear! Oh dear!" is one quotation: never end a sentence inside open quotes.
        if sentences and sentences[-1].count('"') % 2 == 1:
            sentences[-1] += " " + piece
        else:
            sentences.append(piece)
    return [_shorten(s) for s in sentences if s.strip()]


_BACK_REFERENCES = frozenset(
    {"it", "its", "this", "these", "those", "they", "them", "their", "such", "therefore"}
)


def _leans_back(sentence: str) -> bool:
    """Whether the sentence refers to the one before it, judging by its first few words."""
    return any(word.casefold() in _BACK_REFERENCES for word in _words(sentence)[:4])


def _shorten(sentence: str) -> str:
    if len(sentence) <= _LONGEST_SENTENCE:
        return sentence
    cut = sentence[:_LONGEST_SENTENCE].rsplit(" ", 1)[0]
    # Cut after a clause rather than in the middle of one, unless that loses too much.
    clause = max(cut.rfind(mark) for mark in (", ", "; ", ": ", " (", " —"))
    if clause > _LONGEST_SENTENCE // 2:
        cut = cut[:clause]
    if cut.count("`") % 2 == 1:  # never leave a code span open
        cut = cut[: cut.rindex("`")].rstrip()
    return cut.rstrip(",;:—-– ") + "…"


def _cite(sentence: str, number: int) -> str:
    """The sentence with its source's marker before the full stop: "… header [2]."."""
    if sentence.endswith((".", ":", ";")) and not sentence.endswith(".."):
        return f"{sentence[:-1]} [{number}]."
    return f"{sentence} [{number}]"


def _paragraph(sentences: list[tuple[Document, str]], numbers: dict[str, int]) -> str:
    return " ".join(_cite(sentence, numbers[document.name]) for document, sentence in sentences)


_INTRODUCTIONS = {"code": "For example", "table": "At a glance", "list": "In short"}


def _figure(figure: Figure, number: int | None) -> str:
    """The figure as markdown, introduced (and cited) when it is not under its own paragraph."""
    intro = "" if number is None else f"{_INTRODUCTIONS[figure.kind]} [{number}]:\n\n"
    if figure.kind != "code":
        return intro + figure.body
    # A fence longer than any backtick run inside the code cannot be closed by the code.
    longest_run = max((len(run) for run in re.findall(r"`+", figure.body)), default=0)
    fence = "`" * max(3, longest_run + 1)
    return f"{intro}{fence}{figure.language}\n{figure.body}\n{fence}"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
