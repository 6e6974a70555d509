"""The clipboard (`navigator.clipboard.writeText`), with the button that asked for it saying
how it went: "Copied" for a while, or "Copy failed" when the browser refused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import js  # type: ignore[import-not-found]

#: How long a Copy button says "Copied" before it reads "Copy" again, in seconds.
COPIED_FOR = 2.0


async def copy_text(text: str, button: Any, on_refused: Callable[[str], None]) -> None:
    """Put `text` on the clipboard; `button` says whether it worked. The clipboard may
    refuse (no permission, page not focused): then `on_refused` gets the words to say."""
    try:
        await js.navigator.clipboard.writeText(text)
    except Exception:
        button.textContent = "Copy failed"
        on_refused("Could not copy: the browser did not allow it.")
        return
    button.textContent = "Copied"
    await asyncio.sleep(COPIED_FOR)
    button.textContent = "Copy"
