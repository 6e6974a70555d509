"""`app.sse` keeps its name (the contract's §3): the decoder now lives in `streamchat.sse`."""

from streamchat.sse import ServerSentEvent, SSEDecoder

__all__ = ["SSEDecoder", "ServerSentEvent"]
