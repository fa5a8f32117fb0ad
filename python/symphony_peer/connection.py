"""One connection to the bus: a transport, its decoder, and the outbox that batches writes.

A reconnect makes a new :class:`Connection`, so nothing of a dead connection (half-decoded bytes,
queued frames, the negotiated framing) can leak into the next one. The connection knows frames,
not meaning: decoded items go to ``on_item`` and the end of the transport to ``on_lost``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .errors import BusError, InternalError, MessageTooLarge
from .framing import DEFAULT_MAX_FRAME_BYTES, FRAMINGS, FrameDecoder, Framing, encode_payload, frame_payload
from .transport import ByteTransport

__all__ = ["Connection", "JsonId", "is_id"]

JsonId = int | float | str


def is_id(value: Any) -> bool:
    """True for a valid JSON-RPC id (a number or a string; booleans are not numbers here)."""
    return isinstance(value, (int, float, str)) and not isinstance(value, bool)


class Connection:
    """A transport's session state; also the transport's :class:`~.transport.Sink`."""

    def __init__(
        self,
        *,
        max_frame_bytes: int,
        on_item: Callable[[Connection, Any], None],
        on_lost: Callable[[Connection, BaseException | None], None],
    ) -> None:
        self.transport: ByteTransport | None = None
        self.decoder = FrameDecoder(max_frame_bytes=max_frame_bytes)
        self.write_framing: Framing = "ndjson"
        #: The bus's frame limit (from hello): larger outgoing messages fail locally.
        self.max_frame_bytes = DEFAULT_MAX_FRAME_BYTES
        self.hello_id: int | None = None
        self.hello_done = False
        self.ready = False  # hello done and state restored: open to user requests
        self.closed = False
        self.lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self._on_item = on_item
        self._on_lost = on_lost
        self._outbox: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        self._receiving = False  # in data_received: it flushes at its end

    # -- Sink ---------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.decoder.push(data)
        # Answers made while this chunk is dispatched (handlers that finish at once) leave in one
        # write at the end, in this same loop iteration.
        self._receiving = True
        try:
            for item in self.decoder.frames():  # lazy: on_item may switch framing between items
                if self.closed:
                    return
                self._on_item(self, item)
        finally:
            self._receiving = False
            if self._outbox:
                self.flush()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.mark_lost(exc)

    def mark_lost(self, exc: BaseException | None) -> None:
        """Ends the connection's life (idempotent): nothing more is sent or dispatched."""
        if self.closed:
            return
        self.closed = True
        self.ready = False
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._on_lost(self, exc)
        if not self.lost.done():
            self.lost.set_result(exc)

    # -- framing ------------------------------------------------------------------------------

    def switch_framing(self, framing: Any) -> None:
        """Uses ``framing`` both ways from the next frame on (hello negotiated it)."""
        if framing in FRAMINGS and framing != self.write_framing:
            self.decoder.set_framing(framing)
            self.write_framing = framing

    # -- output -------------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        """Queues one message; raises ``MessageTooLarge`` over the bus's limit, ``TypeError`` or
        ``ValueError`` when it is not JSON."""
        self._queue(encode_payload(message), message.get("method"))

    def _queue(self, payload: bytes, method: Any = None) -> None:
        if len(payload) > self.max_frame_bytes:
            raise MessageTooLarge(
                f"message of {len(payload)} bytes is over the bus's limit of {self.max_frame_bytes}",
                {"method": method} if method is not None else None,
            )
        if self.closed:
            return
        self._outbox.append(payload + b"\n" if self.write_framing == "ndjson" else frame_payload(payload, self.write_framing))
        if self._flush_handle is None and not self._receiving:
            # One write per loop iteration: every frame queued until then leaves together, so
            # pipelined requests cost one syscall, not one each.
            self._flush_handle = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_handle = None
        if self._outbox and self.transport is not None and not self.closed:
            data = b"".join(self._outbox)
            self._outbox.clear()
            self.transport.write(data)

    def send_result(self, msg_id: JsonId, result: Any) -> None:
        """Answers ``msg_id``; a result that cannot be sent becomes an error answer."""
        try:
            # The envelope around the encoded result: what encoding the whole message would give.
            msg_id_json = b"%d" % msg_id if type(msg_id) is int else encode_payload(msg_id)
            self._queue(b'{"jsonrpc":"2.0","id":%b,"result":%b}' % (msg_id_json, encode_payload(result)))
        except BusError as exc:
            self.send_error(msg_id, exc)
        except (TypeError, ValueError) as exc:
            self.send_error(msg_id, InternalError(f"result is not JSON: {exc}"))

    def send_error(self, msg_id: JsonId | None, error: BusError) -> None:
        try:
            self.send({"jsonrpc": "2.0", "id": msg_id, "error": error.to_wire()})
        except (BusError, TypeError, ValueError):
            # The error's data is the problem: send the bare code and message.
            self.send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": error.code, "message": error.message}})

    def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def close(self) -> None:
        """Flushes what is queued and starts closing the transport."""
        self.flush()
        if self.transport is not None:
            self.transport.close()

    async def aclose(self, grace: float) -> None:
        """Closes and waits for the transport, aborting it after ``grace`` seconds (a bus that
        stopped reading would otherwise keep the flush, and us, waiting forever)."""
        self.close()
        self.mark_lost(None)
        if self.transport is not None:
            try:
                async with asyncio.timeout(grace):
                    await self.transport.wait_closed()
            except TimeoutError:
                self.transport.abort()
