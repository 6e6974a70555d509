"""`app.render` keeps its name (the contract's §3): rendering now lives in `streamchat.render`."""

from streamchat.render import render_markdown

__all__ = ["render_markdown"]
