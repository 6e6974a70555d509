"""app.tab: what a tab keeps so that a reload comes back to its conversation."""

from __future__ import annotations

import pytest

from app.tab import Place


def test_a_place_comes_back_as_it_was_kept() -> None:
    place = Place("c-1", rev=3, title="Resuming streams", named=True)
    assert Place.loads(place.dumps(), "new") == place


@pytest.mark.parametrize(
    "stored",
    [None, "", "not json", "null", "[]", '{"id": "c-1"}', '{"id": "c-1", "rev": "x"}'],
)
def test_nothing_readable_kept_is_a_new_conversation(stored: str | None) -> None:
    assert Place.loads(stored, "new") == Place("new")


def test_only_true_means_named_and_an_empty_id_is_a_new_one() -> None:
    stored = '{"id": "", "rev": 2, "title": "T", "named": "yes"}'
    assert Place.loads(stored, "new") == Place("new", 2, "T", False)
