"""Citation markers people can use (issue 18): named after their source, one tab stop per
source, and a card with the source on hover, keyboard focus or tap.

The card is one element for the whole page (`#citation-card`, `role=tooltip`), filled for the
marker it is shown for, which then has `aria-describedby` pointing at it. It shows on
hovering a marker (and stays while the pointer is on the marker or the card), on focusing
one with the keyboard, and on tapping one (until a tap elsewhere); it follows its marker when
the page scrolls. Escape, leaving, blurring, or the marker scrolling out of view hides it.
A click never follows the marker's `#` link (the URL's hash stays as it is): a pointer shows
the card; Enter (a click with no pointer) takes the focus to the source in the answer's
list, as the link would have, without changing the hash.

What it shows and where it goes is decided in app/citation_cards.py.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

from app.browser.dom import element
from app.citation_cards import (
    Rect,
    Source,
    accessible_name,
    link_text,
    place_card,
    source_for,
    tab_stops,
)
from streamchat.protocol import Citation

CARD_ID = "citation-card"
#: An answer's citation markers (streamchat/render.py's `_CitationLinker`), not the reasoning's.
MARKERS = "[data-role=answer-body] sup.citation-ref a[data-ref]"
#: How long the card waits after the pointer left the marker (time to move onto the card).
HIDE_AFTER_MS = 300


@functools.cache
def citation_cards() -> CitationCards:
    """The page's one set of cards, made on first use."""
    return CitationCards()


class CitationCards:
    """The shared card, the markers' names and tab stops, and the events that show the card."""

    def __init__(self) -> None:
        document = js.document
        self.card = element(
            "div", "citation-card", id=CARD_ID, role="tooltip", data_role="citation-card",
            hidden="",
        )  # fmt: skip
        self._title = element("p", "citation-card-title")
        self._site = element("p", "citation-card-site")
        self._snippet = element("p", "citation-card-snippet")
        self._link = element(
            "a", "citation-card-link", target="_blank", rel="noopener noreferrer nofollow"
        )
        self.card.append(self._title, self._site, self._snippet, self._link)
        document.body.append(self.card)
        #: Each finished answer's sources, by the answer element's id, then by citation id.
        self._sources: dict[str, dict[str, Source]] = {}
        self.marker: Any = None  # the marker the card is filled for
        self._hovering = False  # the pointer is on the marker or the card
        self._focused = False  # the marker has the keyboard's focus
        self._pinned = False  # tapped: stays until a tap elsewhere
        self._touch = False  # the last pointer down was a touch
        self._timer: Any = None
        self._hide_later = create_proxy(lambda: self._hide_if_idle())
        capture = js.Object.fromEntries([["capture", True], ["passive", True]])
        self._proxies = [
            self._listen(document, "mouseover", self._on_over),
            self._listen(document, "mouseout", self._on_out),
            self._listen(document, "focusin", self._on_focus_in),
            self._listen(document, "focusout", self._on_focus_out),
            self._listen(document, "click", self._on_click),
            self._listen(document, "pointerdown", self._on_pointer_down, capture),
            self._listen(document, "scroll", self._on_scroll, capture),
            self._listen(js.window, "resize", lambda _e: self._place()),
            # Before the page's own Escape (which stops an answer) and the widget's (which
            # closes the panel): an open card takes this one.
            self._listen(js.window, "keydown", self._on_key, True),
        ]

    @staticmethod
    def _listen(target: Any, kind: str, handler: Any, options: Any = False) -> Any:
        proxy = create_proxy(handler)
        target.addEventListener(kind, proxy, options)
        return proxy

    # The markers ----------------------------------------------------------------

    def show_sources(self, answer: Any, citations: Sequence[Citation]) -> None:
        """Make `answer`'s markers usable: named after their source, and a tab stop only for
        the first marker of each source. Called when an answer is finished (and again if it
        is continued and finishes anew), also for answers restored after a reload."""
        if self.marker and not self.marker.isConnected:
            self.hide()
        sources = {citation.id: source_for(citation) for citation in citations}
        if not sources:
            self._sources.pop(str(answer.id), None)
            return
        self._sources[str(answer.id)] = sources
        markers = [m for m in answer.querySelectorAll(MARKERS) if str(m.dataset.ref) in sources]
        refs = [str(marker.dataset.ref) for marker in markers]
        for marker, ref, stop in zip(markers, refs, tab_stops(refs), strict=True):
            marker.setAttribute("aria-label", accessible_name(sources[ref]))
            if stop:
                marker.removeAttribute("tabindex")
            else:
                marker.setAttribute("tabindex", "-1")

    def _marker_of(self, target: Any) -> Any:
        """The usable marker `target` is in, or None."""
        closest = getattr(target, "closest", None) if target else None
        marker = closest(MARKERS) if closest else None
        return marker if marker and self._source_of(marker) is not None else None

    def _source_of(self, marker: Any) -> Source | None:
        answer = marker.closest("[data-role=answer]")
        if not answer:  # JS null
            return None
        return self._sources.get(str(answer.id), {}).get(str(marker.dataset.ref))

    def _in_card(self, target: Any) -> bool:
        return bool(target) and bool(self.card.contains(target))

    # The card -------------------------------------------------------------------

    def show(self, marker: Any) -> None:
        source = self._source_of(marker)
        if source is None:
            return
        self._cancel_hide()
        if self.marker is not None and not self.marker.isSameNode(marker):
            # Another marker: what kept the card open was about the last one.
            self.marker.removeAttribute("aria-describedby")
            self._focused = self._pinned = False
        self.marker = marker
        self._fill(source)
        marker.setAttribute("aria-describedby", CARD_ID)
        self.card.hidden = False
        self._place()

    def hide(self) -> None:
        self._cancel_hide()
        self._hovering = self._focused = self._pinned = False
        self.card.hidden = True
        if self.marker is not None:
            self.marker.removeAttribute("aria-describedby")
            self.marker = None

    def _fill(self, source: Source) -> None:
        self._title.textContent = source.label or f"Source {source.id}"
        # The site under the title, unless the title already is the site (or the URL).
        self._site.textContent = source.site
        self._site.hidden = not source.site or source.label != source.title
        self._snippet.textContent = source.snippet
        self._snippet.hidden = not source.snippet
        if source.href:
            self._link.href = source.href
            self._link.textContent = link_text(source)
            self._link.hidden = False
        else:
            self._link.removeAttribute("href")
            self._link.hidden = True

    def _place(self) -> None:
        marker = self.marker
        if self.card.hidden or marker is None:
            return
        viewport = js.document.documentElement
        width, height = float(viewport.clientWidth), float(viewport.clientHeight)
        box = marker.getBoundingClientRect()
        if not marker.isConnected or box.bottom < 0 or box.top > height:
            self.hide()  # gone, or scrolled out of view
            return
        # Measured at the corner, so that the last place's distance to the edge of the
        # viewport does not narrow it.
        style = self.card.style
        style.left = style.top = "0px"
        card = self.card.getBoundingClientRect()
        anchor = Rect(float(box.left), float(box.top), float(box.width), float(box.height))
        placed = place_card(anchor, float(card.width), float(card.height), width, height)
        style.left, style.top = f"{placed.left:.1f}px", f"{placed.top:.1f}px"
        self.card.dataset.side = placed.side

    def _hide_soon(self) -> None:
        self._cancel_hide()
        self._timer = js.setTimeout(self._hide_later, HIDE_AFTER_MS)

    def _cancel_hide(self) -> None:
        if self._timer is not None:
            js.clearTimeout(self._timer)
            self._timer = None

    def _hide_if_idle(self) -> None:
        self._timer = None
        if not (self._hovering or self._focused or self._pinned):
            self.hide()

    # Events ---------------------------------------------------------------------

    def _on_over(self, event: Any) -> None:
        marker = self._marker_of(event.target)
        if marker:
            self.show(marker)
            self._hovering = True
        elif self._in_card(event.target) and not self.card.hidden:
            self._hovering = True
            self._cancel_hide()
        elif self._hovering:
            self._hovering = False
            self._hide_soon()

    def _on_out(self, event: Any) -> None:
        if not event.relatedTarget and self._hovering:  # the pointer left the document
            self._hovering = False
            self._hide_soon()

    def _on_focus_in(self, event: Any) -> None:
        marker = self._marker_of(event.target)
        # Only the keyboard's focus: a click focuses the link too, and has its own rules.
        if marker and marker.matches(":focus-visible"):
            self.show(marker)
            self._focused = True

    def _on_focus_out(self, event: Any) -> None:
        if self.marker is not None and self.marker.isSameNode(event.target):
            self._focused = False
            self._hide_soon()

    def _on_pointer_down(self, event: Any) -> None:
        self._touch = str(event.pointerType) == "touch"
        if self._in_card(event.target) or self._marker_of(event.target):
            return
        self._pinned = False
        if self._touch and not self.card.hidden:
            self.hide()  # a tap elsewhere

    def _on_click(self, event: Any) -> None:
        marker = self._marker_of(event.target)
        if not marker:
            return
        event.preventDefault()  # never the `#` jump: the URL stays as it is
        pointer = str(getattr(event, "pointerType", "") or "")
        if not pointer and int(event.detail or 0) == 0:
            self._go_to_source(marker)  # Enter on a focused marker: no pointer, no clicks
            return
        touch = pointer == "touch" if pointer else self._touch
        pinned = self._pinned and self.marker is not None and self.marker.isSameNode(marker)
        self.show(marker)
        self._pinned = touch or pinned  # a tap keeps it until a tap elsewhere

    def _on_key(self, event: Any) -> None:
        if event.key != "Escape" or self.card.hidden:
            return
        # Taken here: neither an answer stops nor the widget closes for this Escape.
        event.preventDefault()
        event.stopPropagation()
        self.hide()

    def _on_scroll(self, _event: Any) -> None:
        # The card follows its marker (the browser then tells what the pointer is over, so a
        # marker scrolled away from under it hides the card), and goes with it out of view.
        self._place()

    def _go_to_source(self, marker: Any) -> None:
        """Where the link pointed, without the `#`: the source in the answer's list."""
        answer = marker.closest("[data-role=answer]")
        item = js.document.getElementById(f"{answer.id}-source-{marker.dataset.ref}")
        if not item:
            return
        for marked in js.document.querySelectorAll(".citations li.is-target"):
            marked.classList.remove("is-target")
        item.classList.add("is-target")
        link = item.querySelector("a[href]")
        if not link:
            item.setAttribute("tabindex", "-1")
            link = item
        link.focus()
        link.scrollIntoView(js.Object.fromEntries([["block", "nearest"]]))
