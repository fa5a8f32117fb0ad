"""What a handler knows about the call it serves, and W3C trace context helpers.

The bus forwards every request with ``meta: {traceparent, deadline}`` so a callee knows which trace
it belongs to and how long it has. A handler's own outgoing requests inherit both (same trace id,
a new span; the earlier of the two deadlines) through a context variable, so a chain of calls
across peers stays one trace and never outlives its caller's budget.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from contextvars import ContextVar
from typing import Any, Final

__all__ = ["RequestContext", "current_context", "new_traceparent", "child_traceparent", "parse_traceparent"]

_TRACEPARENT: Final = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def parse_traceparent(value: Any) -> tuple[str, str, str] | None:
    """``(trace_id, parent_id, flags)`` of a valid version-00 traceparent, else None."""
    if not isinstance(value, str):
        return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None or match.group(1) == "ff":
        return None
    trace_id, parent_id, flags = match.group(2), match.group(3), match.group(4)
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return trace_id, parent_id, flags


def _span_id() -> str:
    while True:
        span = secrets.token_hex(8)
        if span != "0" * 16:
            return span


def new_traceparent() -> str:
    """A traceparent starting a new (sampled) trace."""
    while True:
        trace_id = secrets.token_hex(16)
        if trace_id != "0" * 32:
            return f"00-{trace_id}-{_span_id()}-01"


def child_traceparent(parent: str | None) -> str:
    """A new span in ``parent``'s trace, or a new trace when ``parent`` is missing or invalid."""
    parsed = parse_traceparent(parent)
    if parsed is None:
        return new_traceparent()
    trace_id, _, flags = parsed
    return f"00-{trace_id}-{_span_id()}-{flags}"


class RequestContext:
    """Passed to every handler as its second argument.

    ``peer`` is the caller's identity when the bus names it (``meta.peer``); ``deadline`` is the
    caller's deadline in epoch milliseconds (``meta.deadline``); ``cancelled`` is set when the
    call is cancelled (``$/cancelRequest``, deadline passed, or the connection dropped), just
    before the handler task itself is cancelled.
    ``id`` is None for a notification.
    """

    # A plain class with slots, made for every request: the ``cancelled`` event is only created
    # when someone looks at it (or the call is cancelled).
    __slots__ = ("method", "id", "peer", "deadline", "traceparent", "_meta", "_cancelled", "__weakref__")

    def __init__(
        self,
        method: str,
        id: int | float | str | None = None,  # noqa: A002 - the JSON-RPC name
        peer: str | None = None,
        deadline: float | None = None,
        traceparent: str | None = None,
        meta: dict[str, Any] | None = None,
        cancelled: asyncio.Event | None = None,
    ) -> None:
        self.method = method
        self.id = id
        self.peer = peer
        self.deadline = deadline
        self.traceparent = traceparent
        self._meta = meta
        self._cancelled = cancelled

    @classmethod
    def from_meta(cls, method: str, msg_id: int | float | str | None, meta: Any) -> RequestContext:
        """The context of an incoming call; malformed ``meta`` members are ignored, not fatal."""
        if not isinstance(meta, dict):
            return cls(method, msg_id)
        peer = meta.get("peer")
        deadline = meta.get("deadline")
        traceparent = meta.get("traceparent")
        if isinstance(deadline, (int, float)) and not isinstance(deadline, bool):
            try:
                deadline = float(deadline)
            except OverflowError:  # an int too large for a float: no usable deadline
                deadline = None
        else:
            deadline = None
        return cls(
            method,
            msg_id,
            peer if isinstance(peer, str) else None,
            deadline,
            traceparent if isinstance(traceparent, str) else None,
            meta,
        )

    @property
    def meta(self) -> dict[str, Any]:
        """The request's ``meta`` as received (a dict; empty when there was none)."""
        if self._meta is None:
            self._meta = {}
        return self._meta

    @meta.setter
    def meta(self, value: dict[str, Any]) -> None:
        self._meta = value

    @property
    def cancelled(self) -> asyncio.Event:
        """Set when the call is cancelled (see the class docstring)."""
        event = self._cancelled
        if event is None:
            event = self._cancelled = asyncio.Event()
        return event

    @cancelled.setter
    def cancelled(self, value: asyncio.Event) -> None:
        self._cancelled = value

    def remaining(self) -> float | None:
        """Seconds left before the deadline (0.0 once passed), or None when there is none."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline / 1000.0 - time.time())

    @property
    def is_notification(self) -> bool:
        return self.id is None

    def __repr__(self) -> str:
        return (
            f"RequestContext(method={self.method!r}, id={self.id!r}, peer={self.peer!r}, "
            f"deadline={self.deadline!r}, traceparent={self.traceparent!r})"
        )


#: The context of the handler running in this task (inherited by the tasks it creates).
_current: ContextVar[RequestContext | None] = ContextVar("symphony_peer_request_context", default=None)


def current_context() -> RequestContext | None:
    """The :class:`RequestContext` of the handler this code runs under, if any."""
    return _current.get()
