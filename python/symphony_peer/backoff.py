"""Reconnect delays: exponential, capped, jittered.

Jitter matters because a restarted bus sees every peer reconnect at once; spreading the attempts
keeps them from arriving in lockstep on every retry.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before reconnect attempt ``n`` (0-based): ``min(maximum, initial * factor**n)``,
    reduced by up to ``jitter`` (a fraction) at random."""

    initial: float = 0.05
    maximum: float = 2.0
    factor: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial or self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError(f"invalid backoff {self!r}")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        r = (rng or random).random()
        return base * (1.0 - self.jitter * r)
