"""Dot-separated subjects and NATS-style patterns (protocol.md, Session 4).

``*`` matches exactly one segment; ``>`` (last segment only) matches one or more trailing
segments. The same rules name registered methods (``text.*``) and pub/sub topics, so one matcher
serves both. Validation mirrors the bus's so a bad pattern fails locally, before a round trip.
"""

from __future__ import annotations

import re

__all__ = ["is_pattern", "matches", "validate_pattern", "validate_subject"]

_SEGMENT = re.compile(r"[^\s.*>]+")


def validate_subject(subject: str, what: str = "topic") -> None:
    """Raises ``ValueError`` unless ``subject`` is concrete: dot-separated words, no wildcards."""
    if not isinstance(subject, str) or not subject:
        raise ValueError(f"{what} must be a non-empty string")
    for segment in subject.split("."):
        if not _SEGMENT.fullmatch(segment):
            raise ValueError(f"{what} {subject!r} is not a subject: dot-separated words, no spaces or wildcards")


def validate_pattern(pattern: str, what: str = "pattern") -> None:
    """Raises ``ValueError`` unless ``pattern`` is words, ``*`` for one word, ``>`` (last) for the rest."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"{what} must be a non-empty string")
    segments = pattern.split(".")
    for i, segment in enumerate(segments):
        if segment == "*" or (segment == ">" and i == len(segments) - 1):
            continue
        if not _SEGMENT.fullmatch(segment):
            raise ValueError(
                f"{what} {pattern!r} is not valid: dot-separated words, '*' for one word, '>' (last) for the rest"
            )


def is_pattern(name: str) -> bool:
    """True when ``name`` contains a wildcard segment (so it needs matching, not equality)."""
    return any(segment in ("*", ">") for segment in name.split("."))


def matches(pattern: str, subject: str) -> bool:
    """True when ``pattern`` matches the concrete ``subject``."""
    if pattern == subject:
        return True
    p = pattern.split(".")
    s = subject.split(".")
    for i, segment in enumerate(p):
        if segment == ">":
            return len(s) > i
        if i >= len(s):
            return False
        if segment != "*" and segment != s[i]:
            return False
    return len(p) == len(s)
