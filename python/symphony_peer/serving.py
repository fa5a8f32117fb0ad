"""The methods a peer serves, and the calls it is serving right now.

Each incoming request runs its handler in its own task, so a slow handler never delays the
others or the reading of the connection (pings included). A call ends exactly once: answered,
failed, cancelled by the bus (``$/cancelRequest``: no answer), expired (deadline: -32003), or cut
off by the connection's end; ``answered`` makes sure nothing is sent after that.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

from .connection import Connection, JsonId, is_id
from .context import RequestContext, _current
from .errors import INVALID_REQUEST, BusError, InternalError, MethodNotFound, Timeout
from .subjects import is_pattern, matches, validate_pattern

__all__ = ["Handler", "Handlers", "RESERVED_PREFIXES"]

log = logging.getLogger("symphony_peer")

RESERVED_PREFIXES: Final = ("symphony.", "$/")

Handler = Callable[[Any, RequestContext], Any]
"""``async def fn(params, ctx) -> result`` (a plain function returning the result works too)."""

Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


@dataclass(eq=False)
class _Call:
    """A request being served."""

    conn: Connection
    ctx: RequestContext
    task: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None
    answered: bool = False  # answered, cancelled or expired: nothing more may be sent


class Handlers:
    """Handler table (names and patterns) and the calls in progress."""

    def __init__(self, label: str, spawn: Spawn) -> None:
        self._label = label  # for logs
        self._spawn = spawn
        self._table: dict[str, Handler] = {}
        self._calls: dict[JsonId, _Call] = {}

    @staticmethod
    def validate(method: str) -> None:
        """Raises ``ValueError`` unless ``method`` is a name or pattern a peer may serve."""
        validate_pattern(method, "method")
        if method.startswith(RESERVED_PREFIXES):
            raise ValueError(f"method names starting with {RESERVED_PREFIXES} are reserved for the protocol")

    def add(self, method: str, handler: Handler) -> None:
        self.validate(method)
        self._table[method] = handler

    def names(self) -> list[str]:
        return sorted(self._table)

    def find(self, method: str) -> Handler | None:
        """The handler of ``method``: an exact name first, else the first matching pattern."""
        if method.startswith(RESERVED_PREFIXES):
            return None
        handler = self._table.get(method)
        if handler is not None:
            return handler
        for name, candidate in self._table.items():
            if is_pattern(name) and matches(name, method):
                return candidate
        return None

    @property
    def running(self) -> int:
        return len(self._calls)

    # -- incoming -----------------------------------------------------------------------------

    def on_request(self, conn: Connection, msg_id: JsonId, method: str, params: Any, meta: Any, identity: str | None) -> None:
        if msg_id in self._calls:
            conn.send_error(msg_id, BusError(INVALID_REQUEST, f"request id {msg_id!r} is already in use"))
            return
        handler = self.find(method)
        if handler is None:
            conn.send_error(
                msg_id, MethodNotFound(f"{self._label} does not serve {method!r}", {"method": method, "peer": identity})
            )
            return
        call = _Call(conn, RequestContext.from_meta(method, msg_id, meta))
        if call.ctx.deadline is not None:
            delay = call.ctx.deadline / 1000.0 - time.time()
            if delay <= 0:
                conn.send_error(msg_id, Timeout(f"{method}: the deadline passed before the call started", {"method": method}))
                return
            call.timer = asyncio.get_running_loop().call_later(delay, self._expire, call)
        self._calls[msg_id] = call
        call.task = self._spawn(self._serve(call, handler, params), f"symphony handler {method} #{msg_id}")

    def on_notification(self, method: str, params: Any) -> None:
        handler = self.find(method)
        if handler is None:
            log.debug("%s: no handler for notification %s", self._label, method)
            return
        ctx = RequestContext.from_meta(method, None, None)
        self._spawn(self._notified(handler, params, ctx), f"symphony notification {method}")

    def cancel(self, conn: Connection, msg_id: Any) -> None:
        """``$/cancelRequest`` from the bus: stop the handler, answer nothing."""
        call = self._calls.get(msg_id) if is_id(msg_id) else None
        if call is not None and call.conn is conn:
            self._stop(call)

    def stop_all(self, conn: Connection | None = None) -> None:
        """Cancels every call (of ``conn``, or all): their answers could not be delivered."""
        for call in list(self._calls.values()):
            if conn is None or call.conn is conn:
                self._stop(call)

    # -- internals ----------------------------------------------------------------------------

    async def _serve(self, call: _Call, handler: Handler, params: Any) -> None:
        ctx, conn = call.ctx, call.conn
        _current.set(ctx)  # this task's own context: requests it makes join the trace
        try:
            result = handler(params, ctx)
            if inspect.isawaitable(result):
                result = await result
        except BusError as exc:
            if not call.answered:
                conn.send_error(ctx.id, exc)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - any handler failure becomes -32603
            if not call.answered:
                log.exception("%s: handler of %s failed", self._label, ctx.method)
                conn.send_error(ctx.id, InternalError(str(exc) or type(exc).__name__, {"method": ctx.method}))  # type: ignore[arg-type]
        else:
            if not call.answered:
                conn.send_result(ctx.id, result)  # type: ignore[arg-type]
        finally:
            call.answered = True
            if call.timer is not None:
                call.timer.cancel()
            if self._calls.get(ctx.id) is call:  # type: ignore[arg-type]
                del self._calls[ctx.id]  # type: ignore[arg-type]

    async def _notified(self, handler: Handler, params: Any, ctx: RequestContext) -> None:
        _current.set(ctx)
        try:
            result = handler(params, ctx)
            if inspect.isawaitable(result):
                await result
        except Exception:  # noqa: BLE001 - a notification has nobody to answer
            log.exception("%s: handler of notification %s failed", self._label, ctx.method)

    def _stop(self, call: _Call) -> None:
        call.answered = True
        if call.timer is not None:
            call.timer.cancel()
        call.ctx.cancelled.set()
        if call.task is not None:
            call.task.cancel()

    def _expire(self, call: _Call) -> None:
        """The caller's deadline passed: answer -32003 (the caller gives up now anyway) and stop."""
        if call.answered:
            return
        call.conn.send_error(call.ctx.id, Timeout(f"{call.ctx.method}: the deadline passed", {"method": call.ctx.method}))  # type: ignore[arg-type]
        self._stop(call)
