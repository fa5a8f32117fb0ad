"""Python peer library for the Symphony bus (JSON-RPC 2.0 over a Unix socket or stdio).

    import asyncio, symphony_peer

    async def main() -> None:
        peer = await symphony_peer.connect("wordcount")

        @peer.handle("text.wordCount")
        async def word_count(params, ctx):
            return {"words": len(params["text"].split())}

        await peer.register()
        peer.ready()
        await peer.run()

    asyncio.run(main())

See python/README.md and docs/protocol.md.
"""

from .backoff import Backoff
from .context import RequestContext, current_context
from .errors import (
    BusError,
    Cancelled,
    Forbidden,
    InternalError,
    InvalidParams,
    InvalidRequest,
    MessageTooLarge,
    MethodNotFound,
    Overloaded,
    ParseError,
    PeerGone,
    Timeout,
    Unauthorized,
    error_from_code,
)
from .framing import DEFAULT_MAX_FRAME_BYTES, FrameDecoder, FrameError, encode_frame
from .peer import PROTOCOL_VERSION, EventCallback, Handler, Peer, connect
from .subjects import matches

__all__ = [
    "Backoff",
    "BusError",
    "Cancelled",
    "DEFAULT_MAX_FRAME_BYTES",
    "EventCallback",
    "Forbidden",
    "FrameDecoder",
    "FrameError",
    "Handler",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "MessageTooLarge",
    "MethodNotFound",
    "Overloaded",
    "PROTOCOL_VERSION",
    "ParseError",
    "Peer",
    "PeerGone",
    "RequestContext",
    "Timeout",
    "Unauthorized",
    "connect",
    "current_context",
    "encode_frame",
    "error_from_code",
    "matches",
]

__version__ = "0.1.0"
