"""The methods a peer serves, and the calls it is serving right now.

No call delays the others or the reading of the connection (pings included). A handler that can
wait runs in its own task, started eagerly: its first step runs at once, inside the read callback,
with the task current. A handler that cannot wait at all (a plain function, or an ``async def``
without ``await``, ``async with`` or ``async for``, whose coroutine always finishes in one step)
needs no task: it runs to its answer right there, in a copy of the context as a task would. Either
way a handler that returns without waiting is answered in the same loop iteration, in the same
write as the other answers to that chunk.

A call ends exactly once: answered, failed, cancelled by the bus (``$/cancelRequest``: no
answer), expired (deadline: -32003), or cut off by the connection's end; ``answered`` makes sure
nothing is sent after that. Deadlines need no timer per call: the calls still running after their
first step are watched by one sweep timer, armed for the earliest deadline, that expires whatever
is due when it fires.
"""

from __future__ import annotations

import asyncio
import dis
import inspect
import logging
import math
import sys
import time
import types
from collections.abc import Callable, Coroutine
from contextvars import copy_context
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

Spawn = Callable[..., "asyncio.Task[None]"]
"""``spawn(coro, name, *, eager=False)``: the peer's task starter (it tracks what it starts)."""

#: Expiring at most this early matches how the loop runs timers (``when <= now + resolution``).
_CLOCK_RESOLUTION: Final = time.get_clock_info("monotonic").resolution
#: Sweeps that find nothing due yet re-arm at least this far ahead (a deadline fires at most
#: this late), so many calls with staggered deadlines cost one sweep per tick, not one each.
_SWEEP_TICK: Final = 0.008


if sys.version_info >= (3, 12):

    def eager_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task whose first step has already run (3.12+: ``eager_start``)."""
        if loop.get_task_factory() is not None:
            return loop.create_task(coro)
        return asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]

else:

    def eager_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task whose first step has already run, where the loop allows it.

        Python 3.11 has no ``eager_start``: the task is created as usual and the first step its
        constructor just queued on an asyncio loop's ready queue is taken back and run now, the
        way 3.12 runs it (the task is current while it runs). Other loops, a custom task
        factory or a caller inside a task: the step stays queued, which only costs time.
        """
        task = loop.create_task(coro)
        ready = getattr(loop, "_ready", None)
        if ready and asyncio.current_task(loop) is None:
            handle = ready[-1]
            if getattr(getattr(handle, "_callback", None), "__self__", None) is task and not handle.cancelled():
                ready.pop()
                handle._run()
        return task


#: How a handler runs (see the module docstring): in a task, or at once without one.
_IN_TASK: Final = 0
_PLAIN: Final = 1  # a plain function: called at once (a task awaits what it returns, if awaitable)
_AWAIT_FREE: Final = 2  # an async def that never waits: its coroutine is run to the end at once


def _kind(handler: Handler) -> int:
    fn = handler.__func__ if isinstance(handler, types.MethodType) else handler
    if not isinstance(fn, types.FunctionType):
        return _IN_TASK  # partials, callable objects: what they do is not known here
    code = fn.__code__
    if code.co_flags & inspect.CO_COROUTINE:
        # A coroutine can only suspend at a YIELD_VALUE of its own code (await, async with,
        # async for all compile to one); nested functions are separate code objects.
        waits = any(instruction.opname == "YIELD_VALUE" for instruction in dis.get_instructions(code))
        return _IN_TASK if waits else _AWAIT_FREE
    if code.co_flags & (inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE):
        return _IN_TASK
    return _PLAIN


class _Call:
    """A request being served."""

    __slots__ = ("conn", "ctx", "task", "expires", "answered")

    def __init__(self, conn: Connection, ctx: RequestContext) -> None:
        self.conn = conn
        self.ctx = ctx
        self.task: asyncio.Task[None] | None = None
        self.expires: float | None = None  # loop time of the deadline
        self.answered = False  # answered, cancelled or expired: nothing more may be sent


class Handlers:
    """Handler table (names and patterns) and the calls in progress."""

    def __init__(self, label: str, spawn: Spawn) -> None:
        self._label = label  # for logs
        self._spawn = spawn
        self._table: dict[str, Handler] = {}
        self._kinds: dict[str, int] = {}  # how each entry of _table runs
        self._calls: dict[JsonId, _Call] = {}
        self._sweep_handle: asyncio.TimerHandle | None = None
        self._sweep_at = math.inf  # loop time the sweep is armed for

    @staticmethod
    def validate(method: str) -> None:
        """Raises ``ValueError`` unless ``method`` is a name or pattern a peer may serve."""
        validate_pattern(method, "method")
        if method.startswith(RESERVED_PREFIXES):
            raise ValueError(f"method names starting with {RESERVED_PREFIXES} are reserved for the protocol")

    def add(self, method: str, handler: Handler) -> None:
        self.validate(method)
        self._table[method] = handler
        self._kinds[method] = _kind(handler)

    def names(self) -> list[str]:
        return sorted(self._table)

    def find(self, method: str) -> Handler | None:
        """The handler of ``method``: an exact name first, else the first matching pattern."""
        name = self._entry(method)
        return None if name is None else self._table[name]

    def _entry(self, method: str) -> str | None:
        """The name or pattern in the table that serves ``method``."""
        if method in self._table:
            return method  # never a reserved name: add() refuses those
        if method.startswith(RESERVED_PREFIXES):
            return None
        for name in self._table:
            if is_pattern(name) and matches(name, method):
                return name
        return None

    @property
    def running(self) -> int:
        return len(self._calls)

    # -- incoming -----------------------------------------------------------------------------

    def on_request(self, conn: Connection, msg_id: JsonId, method: str, params: Any, meta: Any, identity: str | None) -> None:
        if msg_id in self._calls:
            conn.send_error(msg_id, BusError(INVALID_REQUEST, f"request id {msg_id!r} is already in use"))
            return
        name = self._entry(method)
        if name is None:
            conn.send_error(
                msg_id, MethodNotFound(f"{self._label} does not serve {method!r}", {"method": method, "peer": identity})
            )
            return
        ctx = RequestContext.from_meta(method, msg_id, meta)
        delay = None
        if ctx.deadline is not None:
            delay = ctx.deadline / 1000.0 - time.time()
            if delay <= 0:
                conn.send_error(msg_id, Timeout(f"{method}: the deadline passed before the call started", {"method": method}))
                return
        handler = self._table[name]
        kind = self._kinds[name]
        if kind == _IN_TASK:
            self._start(conn, ctx, delay, None, handler, params)
        else:
            copy_context().run(self._run_now, conn, ctx, delay, handler, params, kind)

    def _start(
        self, conn: Connection, ctx: RequestContext, delay: float | None, pending: Any, handler: Handler, params: Any
    ) -> None:
        """Serves the call in its own (eager) task; ``pending``: an awaitable the handler already
        returned, for the task to wait for instead of calling the handler."""
        call = _Call(conn, ctx)
        self._calls[ctx.id] = call  # type: ignore[index]
        loop = asyncio.get_running_loop()
        if delay is not None:
            call.expires = loop.time() + delay
        task = self._spawn(self._serve(call, handler, params, pending), None, eager=True)
        if task.done():
            return  # answered already: the common case costs no timer and no scheduling
        task.set_name(f"symphony handler {ctx.method} #{ctx.id}")
        call.task = task
        if call.answered:
            task.cancel()  # stopped while its first step ran (the connection dropped)
        elif call.expires is not None and call.expires < math.inf:
            self._watch(call.expires, loop)

    def _run_now(
        self, conn: Connection, ctx: RequestContext, delay: float | None, handler: Handler, params: Any, kind: int
    ) -> None:
        """Runs a handler that cannot wait to its answer, without a task (in a context copy)."""
        _current.set(ctx)  # requests it starts join the trace
        try:
            result = handler(params, ctx)
            if kind == _AWAIT_FREE and type(result) is types.CoroutineType:
                try:
                    result.send(None)
                except StopIteration as done:
                    result = done.value
                else:  # it waited after all (its code was swapped?): no task to wait in
                    result.close()
                    raise RuntimeError(f"the handler of {ctx.method} waited, but it has no await") from None
            elif inspect.isawaitable(result):
                # A plain function returned something to wait for: a task waits for it.
                self._start(conn, ctx, delay, result, handler, params)
                return
        except BusError as exc:
            conn.send_error(ctx.id, exc)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - any handler failure becomes -32603
            log.exception("%s: handler of %s failed", self._label, ctx.method)
            conn.send_error(ctx.id, InternalError(str(exc) or type(exc).__name__, {"method": ctx.method}))  # type: ignore[arg-type]
        except asyncio.CancelledError:
            # Run inline, so nothing cancelled it: the handler awaited something that was cancelled.
            # The caller gets an answer now instead of waiting out its deadline.
            conn.send_error(ctx.id, InternalError(f"the handler of {ctx.method} raised CancelledError without being cancelled", {"method": ctx.method}))  # type: ignore[arg-type]
        else:
            conn.send_result(ctx.id, result)  # type: ignore[arg-type]

    def on_notification(self, method: str, params: Any) -> None:
        handler = self.find(method)
        if handler is None:
            log.debug("%s: no handler for notification %s", self._label, method)
            return
        ctx = RequestContext(method)
        task = self._spawn(self._notified(handler, params, ctx), None, eager=True)
        if not task.done():
            task.set_name(f"symphony notification {method}")

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
        if not self._calls or conn is None:
            self._disarm()

    # -- internals ----------------------------------------------------------------------------

    async def _serve(self, call: _Call, handler: Handler, params: Any, pending: Any = None) -> None:
        ctx, conn = call.ctx, call.conn
        _current.set(ctx)  # this task's own context: requests it makes join the trace
        try:
            result = handler(params, ctx) if pending is None else pending
            if inspect.isawaitable(result):
                result = await result
        except BusError as exc:
            if not call.answered:
                conn.send_error(ctx.id, exc)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - any handler failure becomes -32603
            if not call.answered:
                log.exception("%s: handler of %s failed", self._label, ctx.method)
                conn.send_error(ctx.id, InternalError(str(exc) or type(exc).__name__, {"method": ctx.method}))  # type: ignore[arg-type]
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if call.answered or (task is not None and task.cancelling()):
                raise  # stopped by the bus (cancel, deadline, a lost connection) or from outside: no answer
            # Not cancelled, yet it raised CancelledError (it awaited something cancelled elsewhere):
            # answer now rather than leave the caller waiting out its deadline.
            conn.send_error(ctx.id, InternalError(f"the handler of {ctx.method} raised CancelledError without being cancelled", {"method": ctx.method}))  # type: ignore[arg-type]
        else:
            if not call.answered:
                conn.send_result(ctx.id, result)  # type: ignore[arg-type]
        finally:
            call.answered = True
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
        call.ctx.cancelled.set()
        if call.task is not None:
            call.task.cancel()

    def _expire(self, call: _Call) -> None:
        """The caller's deadline passed: answer -32003 (the caller gives up now anyway) and stop."""
        if call.answered:
            return
        call.conn.send_error(call.ctx.id, Timeout(f"{call.ctx.method}: the deadline passed", {"method": call.ctx.method}))  # type: ignore[arg-type]
        self._stop(call)

    # -- deadlines: one sweep timer ---------------------------------------------------------

    def _watch(self, expires: float, loop: asyncio.AbstractEventLoop) -> None:
        """A running call expires at ``expires``: make sure a sweep comes by then."""
        if expires < self._sweep_at:
            if self._sweep_handle is not None:
                self._sweep_handle.cancel()
            self._sweep_at = expires
            self._sweep_handle = loop.call_at(expires, self._sweep)

    def _disarm(self) -> None:
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
            self._sweep_handle = None
        self._sweep_at = math.inf

    def _sweep(self) -> None:
        """Expires every call whose deadline has come; re-arms for the next one (if any)."""
        self._sweep_handle = None
        self._sweep_at = math.inf
        loop = asyncio.get_running_loop()
        now = loop.time()
        due: list[_Call] = []
        soonest = math.inf
        for call in self._calls.values():
            expires = call.expires
            if expires is None or call.answered:
                continue
            if expires <= now + _CLOCK_RESOLUTION:
                due.append(call)
            elif expires < soonest:
                soonest = expires
        for call in due:
            self._expire(call)
        if soonest < math.inf:
            self._watch(max(soonest, now + _SWEEP_TICK), loop)
