"""Local subscriptions: which callbacks get a ``symphony.event``.

The bus keeps one subscription per pattern for this peer; locally any number of callbacks may
share a pattern, and an event goes to every callback whose pattern matches its topic.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .subjects import matches, validate_pattern

__all__ = ["EventCallback", "Subscriptions"]

log = logging.getLogger("symphony_peer")

EventCallback = Callable[[str, Any], Any]
"""``fn(topic, data)``, sync or async."""

Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


@dataclass(eq=False)
class _Subscription:
    pattern: str
    callback: EventCallback


class Subscriptions:
    def __init__(self, label: str, spawn: Spawn) -> None:
        self._label = label
        self._spawn = spawn
        self._entries: list[_Subscription] = []

    def add(self, pattern: str, callback: EventCallback) -> tuple[object, bool]:
        """Adds a callback; returns a handle for :meth:`discard` and whether the pattern is new
        (then the bus must be told)."""
        validate_pattern(pattern)
        first = not self.has(pattern)
        entry = _Subscription(pattern, callback)
        self._entries.append(entry)
        return entry, first

    def discard(self, handle: object) -> None:
        if handle in self._entries:
            self._entries.remove(handle)  # type: ignore[arg-type]

    def remove(self, pattern: str, callback: EventCallback | None = None) -> bool:
        """Removes ``callback`` (or every callback) of ``pattern``; True when that emptied the
        pattern (then the bus must be told)."""
        before = len(self._entries)
        self._entries = [
            e for e in self._entries if not (e.pattern == pattern and (callback is None or e.callback == callback))
        ]
        return len(self._entries) < before and not self.has(pattern)

    def has(self, pattern: str) -> bool:
        return any(e.pattern == pattern for e in self._entries)

    def patterns(self) -> list[str]:
        """Distinct patterns, in subscription order (what a reconnect re-subscribes)."""
        return list(dict.fromkeys(e.pattern for e in self._entries))

    def deliver(self, topic: str, data: Any) -> None:
        """Calls every matching callback; async ones each get a task. Failures are logged."""
        for entry in list(self._entries):
            if not matches(entry.pattern, topic):
                continue
            try:
                outcome = entry.callback(topic, data)
            except Exception:  # noqa: BLE001 - one bad subscriber must not stop the others
                log.exception("%s: subscriber of %s failed on %s", self._label, entry.pattern, topic)
                continue
            if inspect.isawaitable(outcome):
                self._spawn(self._awaited(outcome, entry.pattern, topic), f"symphony event {topic}")

    async def _awaited(self, outcome: Awaitable[Any], pattern: str, topic: str) -> None:
        try:
            await outcome
        except Exception:  # noqa: BLE001
            log.exception("%s: subscriber of %s failed on %s", self._label, pattern, topic)
