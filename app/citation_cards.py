"""Citation markers people can use: what each one is called, which ones take a tab stop, what
its source's card says and where the card goes. Plain Python (tested in CPython);
app/browser/citations.py puts it on the page.

A finished answer's markers (`<sup class="citation-ref"><a data-ref="1">[1]</a></sup>`, from
streamchat/render.py) are named after their source ("Source 1: HTML Standard"), only the first
marker of each source is a tab stop, and hovering, focusing or tapping one shows a small card
with the source's title, site, snippet (when the citation has one) and a link to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from streamchat.protocol import Citation

__all__ = [
    "CARD_GAP",
    "VIEWPORT_MARGIN",
    "Placement",
    "Rect",
    "Source",
    "accessible_name",
    "link_text",
    "place_card",
    "site_of",
    "source_for",
    "tab_stops",
]

#: Space kept free between the card and the edges of the viewport (CSS px).
VIEWPORT_MARGIN = 8.0
#: Space between the card and its marker (CSS px).
CARD_GAP = 6.0


@dataclass(frozen=True)
class Source:
    """What a marker's card shows about its source."""

    id: str
    #: The citation's title, "" when it has none (the card then shows the site or the URL).
    title: str
    #: The host name of its URL ("html.spec.whatwg.org"), "" when it has none.
    site: str
    #: Its URL as the citation gave it (trimmed).
    url: str
    #: The same when the page links to it (http or https), else "".
    href: str
    #: A passage of the source, when the back end sent one; "" otherwise.
    snippet: str = ""

    @property
    def label(self) -> str:
        """What the source is called: its title, else its site, else its URL, else ""."""
        return self.title or self.site or self.url


def site_of(url: str) -> str:
    """The host name of `url` ("" for none, or for a URL that does not parse)."""
    try:
        return urlsplit(url.strip()).hostname or ""
    except ValueError:  # an invalid IPv6 literal, a bad port
        return ""


def source_for(citation: Citation) -> Source:
    """The card's text for `citation`. Only http(s) URLs are linked (as in the list of
    sources). The protocol's citation carries no snippet (streamchat/protocol.py); one is shown if
    it ever does."""
    url = citation.url.strip()
    try:
        linkable = urlsplit(url).scheme.lower() in ("http", "https")
    except ValueError:  # "https://[::1": the browser would not open it either
        linkable = False
    snippet = getattr(citation, "snippet", "")
    return Source(
        id=citation.id,
        title=citation.title.strip(),
        site=site_of(url),
        url=url,
        href=url if linkable else "",
        snippet=snippet.strip() if isinstance(snippet, str) else "",
    )


def accessible_name(source: Source) -> str:
    """A marker's accessible name: "Source 1: HTML Standard" rather than "[1]"."""
    return f"Source {source.id}: {source.label}" if source.label else f"Source {source.id}"


def link_text(source: Source) -> str:
    """The card's link: where it goes ("Open html.spec.whatwg.org")."""
    return f"Open {source.site}" if source.site else "Open the source"


def tab_stops(refs: Iterable[str]) -> list[bool]:
    """For markers citing `refs` in document order: whether each is a tab stop (the first
    marker of each source is; later ones of the same source are not)."""
    seen: set[str] = set()
    stops = []
    for ref in refs:
        stops.append(ref not in seen)
        seen.add(ref)
    return stops


@dataclass(frozen=True)
class Rect:
    """A box in CSS px relative to the viewport, as `getBoundingClientRect()` gives it."""

    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height


@dataclass(frozen=True)
class Placement:
    """Where the card goes (its top-left corner, viewport px), and on which side of the
    marker ("above" or "below")."""

    left: float
    top: float
    side: str


def place_card(
    marker: Rect,
    width: float,
    height: float,
    viewport_width: float,
    viewport_height: float,
    *,
    margin: float = VIEWPORT_MARGIN,
    gap: float = CARD_GAP,
) -> Placement:
    """Where a `width` × `height` card for `marker` goes: above the marker when it fits
    there (so it covers what was read, not what comes next), else below it, else on the side
    with more room; its left edge at the marker's, moved in so that the card stays inside the
    viewport with `margin` to spare (when the viewport is narrower than that, at `margin`)."""
    room_above = marker.top - gap - margin
    room_below = viewport_height - marker.bottom - gap - margin
    if height <= room_above:
        side = "above"
    elif height <= room_below:
        side = "below"
    else:
        side = "above" if room_above > room_below else "below"
    top = marker.top - gap - height if side == "above" else marker.bottom + gap
    # A card taller than the room it has is kept on screen (the stylesheet caps its height).
    top = max(margin, min(top, viewport_height - margin - height))
    left = max(margin, min(marker.left, viewport_width - margin - width))
    return Placement(left=left, top=top, side=side)
