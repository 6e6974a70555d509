"""server/retrieval.py, server/corpus.py, server/answerers.py: the offline answer."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.answerers import chunk_words
from server.corpus import CorpusError, Figure, load_corpus, parse_document
from server.events import AnswerEvent, Citations, Token
from server.retrieval import COVERAGE_FLOOR, RetrievalAnswerer, terms
from tests.server.helpers import RecordingSleep

ANSWERER = RetrievalAnswerer()

CODE_QUESTION = "How is the retry delay computed with exponential back-off?"
RESUME_QUESTION = "How does the page resume a dropped stream?"

# What a reader might ask: ten questions the corpus answers (with the source the answer
# should start from) and ten it does not, several of which share a common word with it.
QUESTIONS = [
    ("What is Pyodide?", "Pyodide"),
    ("What's PyScript?", "PyScript"),
    ("How do server-sent events reconnect?", "Server-sent events"),
    (RESUME_QUESTION, "Exponential back-off with jitter"),
    ("How do I stop a fetch request?", "Reading a streamed response with fetch"),
    ("Where is the new text in a streaming chat completion chunk?", "Streaming chat completions"),
    (
        "Why must model output be sanitized before it goes into the page?",
        "Rendering markdown while it streams",
    ),
    ("What did Lincoln say at Gettysburg?", "The Gettysburg Address, by Abraham Lincoln (1863)"),
    (
        "What was Alice doing on the bank with her sister?",
        "Alice's Adventures in Wonderland, by Lewis Carroll, Chapter I: Down the Rabbit-Hole",
    ),
    (
        "Which rights does the Declaration of Independence call unalienable?",
        "The Declaration of Independence (1776)",
    ),
    ("What's the weather in Paris tomorrow?", None),
    ("Who won the football World Cup in 2022?", None),  # "world" is in the Gettysburg Address
    ("How do I bake sourdough bread?", None),
    ("What is the capital of Australia?", None),
    ("Can you recommend a good pizza place nearby?", None),
    ("How long should I boil an egg?", None),  # "long": "long-lived", "can long endure"
    ("Which Python web framework is the fastest?", None),  # "Python", "web"
    ("What's the best way to learn JavaScript?", None),  # "JavaScript", "way"
    ("How do I stream a football match to my browser?", None),  # "stream", "browser"
    ("How many moons does Jupiter have?", None),
]


async def collect(answerer: RetrievalAnswerer, question: str) -> list[AnswerEvent]:
    return [event async for event in answerer.answer(question, [])]


def markers(markdown: str) -> list[str]:
    """The `[n]` citation markers in order of appearance, outside code (`choices[0]` is code)."""
    prose = re.sub(r"```.*?```|`[^`\n]*`", "", markdown, flags=re.DOTALL)
    return re.findall(r"\[(\d+)\]", prose)


def paragraphs(markdown: str) -> list[str]:
    """The answer's prose paragraphs: not code, not tables, not lists."""
    blocks = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL).split("\n\n")
    return [b.strip() for b in blocks if b.strip() and not b.lstrip().startswith(("|", "- "))]


@pytest.mark.parametrize(
    ("question", "source"), QUESTIONS, ids=[question for question, _ in QUESTIONS]
)
def test_it_answers_what_its_sources_cover_and_says_when_they_do_not(
    question: str, source: str | None
) -> None:
    reply = ANSWERER.compose(question)
    assert not reply.markdown.lstrip().startswith("#")  # the question is not repeated
    assert "| Relevance |" not in reply.markdown
    if source is None:
        assert reply.citations == ()
        assert reply.markdown.startswith("I don't know.")
        assert markers(reply.markdown) == []
    else:
        assert reply.citations[0].title == source
        assert "I don't know" not in reply.markdown
        assert 1 <= len(paragraphs(reply.markdown)) <= 3
        assert all(re.search(r"\[\d+\]", p) for p in paragraphs(reply.markdown))


def test_on_and_off_topic_questions_are_well_clear_of_the_relevance_floor() -> None:
    # A margin on both sides, so that a small change to the corpus does not flip an answer.
    for question, source in QUESTIONS:
        relevance = ANSWERER.relevance(question)
        if source is None:
            assert relevance <= COVERAGE_FLOOR - 0.1, question
        else:
            assert relevance >= COVERAGE_FLOOR + 0.1, question


def test_the_leftover_s_of_a_contraction_is_not_a_search_term() -> None:
    assert terms("What's the weather in Paris tomorrow?") == ["weather", "paris", "tomorrow"]
    reply = ANSWERER.compose("What's the weather in Paris tomorrow?")
    assert reply.citations == ()
    assert reply.markdown.startswith(
        "I don't know. None of my sources mention *weather*, *Paris* or *tomorrow*"
    )
    assert "Pyodide" not in reply.markdown.split("\n\n")[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Why doesn't it reconnect? Isn't it? I'm sure they've and we'll", ["reconnect", "sur"]),
        ("Alice's sister’s book", ["alic", "sister", "book"]),
        ("drops dropped dropping drop", ["drop"] * 4),
        ("retries retried retrying", ["retry"] * 3),
        ("reconnects reconnection reconnecting", ["reconnect"] * 3),
        ("What is exponential back-off?", ["exponential", "back", "backoff"]),
        ("Ünïcode “quotes”", ["ünïcod", "quot"]),
        ("What is it, and how do you do that?", []),
    ],
)
def test_terms_drop_stop_words_and_contractions_and_fold_endings(
    text: str, expected: list[str]
) -> None:
    assert terms(text) == expected


def test_a_question_sharing_only_a_common_word_is_below_the_floor() -> None:
    question = "How long should I boil an egg?"
    assert ANSWERER.rank(question), "'long' is in the corpus: only the floor refuses it"
    reply = ANSWERER.compose(question)
    assert reply.citations == ()
    assert "None of my sources mention *boil* or *egg*" in reply.markdown


def test_an_answer_is_a_short_cited_explanation_without_heading_or_table() -> None:
    reply = ANSWERER.compose("How do server-sent events reconnect?")
    assert reply.markdown.startswith("The browser's `EventSource` reconnects by itself")
    assert not re.search(r"^#", reply.markdown, re.MULTILINE)
    assert "|" not in reply.markdown
    assert len(reply.markdown) < 1000
    assert set(markers(reply.markdown)) == {c.id for c in reply.citations}
    assert reply.citations[0].title == "Server-sent events"
    assert "Last-Event-ID" in reply.markdown


def test_sources_are_numbered_in_the_order_they_are_first_cited() -> None:
    for question, source in QUESTIONS:
        reply = ANSWERER.compose(question)
        if source is None:
            continue
        first_uses = list(dict.fromkeys(markers(reply.markdown)))
        assert first_uses == [c.id for c in reply.citations], question
        assert first_uses == [str(n) for n in range(1, len(first_uses) + 1)]
        assert len({c.url for c in reply.citations}) == len(reply.citations)


def test_the_marker_goes_before_the_full_stop() -> None:
    markdown = ANSWERER.compose("What is Pyodide?").markdown
    assert markdown.startswith(
        "Pyodide is a port of CPython to WebAssembly built with Emscripten [1]."
    )
    assert ". [1]" not in markdown


def test_a_passage_with_code_brings_its_code_block() -> None:
    markdown = ANSWERER.compose(CODE_QUESTION).markdown
    assert "\n\n```python\ndef retry_delay(" in markdown
    assert markdown.count("```") == 2
    assert "|" not in markdown


def test_a_passage_with_a_table_brings_its_table() -> None:
    reply = ANSWERER.compose(RESUME_QUESTION)
    assert reply.markdown.startswith("When the stream carries event ids, a reconnect resumes")
    assert "\n\n| | `EventSource` | `fetch` |\n|:--|:--|:--|\n" in reply.markdown
    assert reply.markdown.count("\n|:--") == 1
    assert "Last-Event-ID" in reply.markdown
    assert [c.title for c in reply.citations] == [
        "Exponential back-off with jitter",
        "Server-sent events",
    ]


def test_a_passage_with_a_list_brings_its_list() -> None:
    markdown = ANSWERER.compose("What lines make up an event stream?").markdown
    assert "[1].\n\n- `event` names the event's type" in markdown
    assert "\n- `retry` sets the reconnection time in milliseconds.\n" in markdown


def test_a_figure_away_from_its_paragraph_is_introduced_and_cited() -> None:
    markdown = ANSWERER.compose("What is Pyodide?").markdown
    assert "\n\nFor example [1]:\n\n```python\nfrom pyodide.ffi import create_proxy\n" in markdown


def test_long_sentences_are_cut_after_a_clause() -> None:
    markdown = ANSWERER.compose("What was Alice doing on the bank with her sister?").markdown
    first = markdown.split("\n\n")[0].rstrip()
    assert first.endswith("but it had no pictures or conversations in it… [1]")
    assert len(first) < 300


def test_an_unknown_topic_gets_no_citations_but_a_list_of_topics() -> None:
    reply = ANSWERER.compose("xylophone quantum zebra")
    assert reply.citations == ()
    assert "None of my sources mention *xylophone*, *quantum* or *zebra*" in reply.markdown
    assert "\n\nI can answer questions about:\n\n" in reply.markdown
    assert "- PyScript\n" in reply.markdown


def test_a_question_with_nothing_to_look_up_gets_the_list_of_topics() -> None:
    reply = ANSWERER.compose("Hello!")
    assert reply.citations == ()
    assert reply.markdown.startswith("Ask me about one of my sources:\n\n- ")


def test_the_words_named_in_a_dont_know_are_the_ones_no_source_has() -> None:
    markdown = ANSWERER.compose("Who won the football World Cup in 2022?").markdown
    assert "*won*, *football*, *Cup* or *2022*" in markdown  # not *World*


# Words from the corpus and from elsewhere, with the punctuation questions are made of.
WORDS = sorted({w for p in ANSWERER.passages for w in re.findall(r"\S+", p.text)})
NOISE = ["weather", "What's", "doesn't", "back-off", "?", "—", "😀", "`", "*", "[1]", "##"]


@given(st.lists(st.sampled_from(WORDS + NOISE) | st.text(max_size=8), max_size=12))
def test_any_question_gets_an_answer_whose_markers_match_its_citations(words: list[str]) -> None:
    reply = ANSWERER.compose(" ".join(words))
    assert reply.markdown.strip()
    assert not reply.markdown.startswith("#")
    first_uses = list(dict.fromkeys(markers(reply.markdown)))
    assert first_uses == [c.id for c in reply.citations]
    assert reply.markdown.count("```") % 2 == 0


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
async def test_a_dont_know_streams_tokens_and_no_citations() -> None:
    events = await collect(ANSWERER, "What's the weather in Paris tomorrow?")
    assert events
    assert all(isinstance(event, Token) for event in events)


@pytest.mark.anyio
async def test_each_token_waits_for_the_pace() -> None:
    sleep = RecordingSleep()
    answerer = RetrievalAnswerer(pace=0.03, sleep=sleep)
    events = await collect(answerer, "What is PyScript?")
    assert sleep.calls == [0.03] * (len(events) - 1)  # not before the citations


def test_an_empty_corpus_knows_nothing() -> None:
    reply = RetrievalAnswerer([]).compose("What is Pyodide?")
    assert reply.citations == ()
    assert reply.markdown.startswith("I don't know.")


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


def test_code_tables_and_lists_stay_with_the_paragraph_before_them() -> None:
    text = (
        "title: T\nsource: https://e.org/\n\n"
        "First.\n\nLead in:\n\n```py\nx = 1\n\ny = 2\n```\n\n"
        "Compared:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "Listed:\n\n- one\n- two\n\n"
        "- a list with no paragraph\n\n"
        "After\nwrapped."
    )
    passages = parse_document("t", text).passages()
    assert [(p.text, p.figure) for p in passages] == [
        ("First.", None),
        ("Lead in:", Figure("code", "x = 1\n\ny = 2", "py")),
        ("Compared:", Figure("table", "| a | b |\n|---|---|\n| 1 | 2 |")),
        ("Listed:", Figure("list", "- one\n- two")),
        ("", Figure("list", "- a list with no paragraph")),
        ("After wrapped.", None),
    ]


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
