"""server/retrieval.py, server/corpus.py, server/answerers.py: the offline answer."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.answerers import chunk_words
from server.corpus import CorpusError, load_corpus, parse_document
from server.events import AnswerEvent, Citations, Token
from server.retrieval import RetrievalAnswerer
from tests.server.helpers import RecordingSleep

ANSWERER = RetrievalAnswerer()


async def collect(answerer: RetrievalAnswerer, question: str) -> list[AnswerEvent]:
    return [event async for event in answerer.answer(question, [])]


def markers(markdown: str) -> set[str]:
    return set(re.findall(r"\[(\d+)\]", markdown))


def test_the_corpus_has_titled_documents_with_sources() -> None:
    documents = load_corpus()
    assert 8 <= len(documents) <= 12
    for document in documents:
        assert document.title
        assert document.url.startswith("https://")
        assert document.passages()


def test_parse_document_reads_the_header_lines() -> None:
    document = parse_document("x", "title: A title\nsource: https://example.org/\n\nBody.\n")
    assert (document.title, document.url, document.body) == (
        "A title",
        "https://example.org/",
        "Body.",
    )
    with pytest.raises(CorpusError):
        parse_document("x", "title: only a title\n\nBody.")


def test_a_code_block_stays_with_the_paragraph_before_it() -> None:
    text = (
        "title: T\nsource: https://e.org/\n\n"
        "First.\n\nLead in:\n\n```py\nx = 1\n\ny = 2\n```\n\nAfter."
    )
    passages = parse_document("t", text).passages()
    assert [(p.text, p.code, p.language) for p in passages] == [
        ("First.", None, ""),
        ("Lead in:", "x = 1\n\ny = 2", "py"),
        ("After.", None, ""),
    ]


def test_an_answer_has_a_heading_a_cited_list_and_matching_citations() -> None:
    reply = ANSWERER.compose("How do server-sent events reconnect?")
    lines = reply.markdown.splitlines()
    assert lines[0] == "## How do server-sent events reconnect"
    bullets = [line for line in lines if line.startswith("- ")]
    assert bullets
    assert all(re.search(r" \[\d+\]$", line) for line in bullets)
    assert markers(reply.markdown) == {c.id for c in reply.citations}
    assert [c.id for c in reply.citations] == [str(n) for n in range(1, len(reply.citations) + 1)]
    assert reply.citations[0].title == "Server-sent events"


def test_without_code_the_answer_compares_the_sources_in_a_table() -> None:
    markdown = ANSWERER.compose("What did Lincoln say at Gettysburg?").markdown
    assert "| # | Source | Relevance |\n|:-:|:-------|----------:|\n" in markdown
    assert "| [1] | The Gettysburg Address (1863) | 100% |" in markdown


def test_a_passage_with_code_brings_its_code_block() -> None:
    markdown = ANSWERER.compose("How long should a client back off before a retry?").markdown
    assert "```python\ndef retry_delay(" in markdown
    assert markdown.rstrip().endswith("```")


def test_an_unknown_topic_gets_no_citations_but_a_list_of_topics() -> None:
    reply = ANSWERER.compose("xylophone quantum zebra")
    assert reply.citations == ()
    assert "None of my sources mention that" in reply.markdown
    assert "- PyScript\n" in reply.markdown


@pytest.mark.anyio
async def test_the_stream_is_tokens_then_one_citations_event_and_deterministic() -> None:
    question = "What is Pyodide?"
    first, second = await collect(ANSWERER, question), await collect(ANSWERER, question)
    assert first == second
    *tokens, citations = first
    assert all(isinstance(t, Token) for t in tokens)
    assert isinstance(citations, Citations)
    text = "".join(t.text for t in tokens if isinstance(t, Token))
    assert text == ANSWERER.compose(question).markdown
    assert len(tokens) > 10


@pytest.mark.anyio
async def test_each_token_waits_for_the_pace() -> None:
    sleep = RecordingSleep()
    answerer = RetrievalAnswerer(pace=0.03, sleep=sleep)
    events = await collect(answerer, "What is PyScript?")
    assert sleep.calls == [0.03] * (len(events) - 1)  # not before the citations


@given(st.text(), st.integers(0, 2**32))
def test_chunks_join_back_into_the_text_with_one_to_three_words_each(text: str, seed: int) -> None:
    chunks = chunk_words(text, random.Random(seed))
    assert "".join(chunks) == text
    for chunk in chunks:
        assert chunk
        assert 1 <= len(chunk.split()) <= 3 or not chunk.strip()


def test_chunks_split_code_fences_and_table_rows() -> None:
    text = "| a | b |\n|---|---|\n```py\nprint(1)\n```\n"
    chunks = chunk_words(text, random.Random(1))
    assert not any(chunk == text for chunk in chunks)
    assert any("|" in chunk and chunk.count("|") < 3 for chunk in chunks)
