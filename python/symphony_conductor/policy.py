"""The decision policy, in Python: the same rules as the kernel's built-in one, so a melody gives
the same results whichever Conductor decides (and this is where a learned policy would go).
"""

from __future__ import annotations

from typing import Any

Decision = dict[str, Any]


def decide(question: dict[str, Any]) -> Decision:
    """Answers one question from the melody engine; raises ValueError on a question it cannot read."""
    kind = question.get("kind")
    if kind == "provider":
        candidates = list(question["candidates"])
        served = [c for c in candidates if c in question.get("served", [])]
        latency = question.get("latencyMs", {})
        if not served:
            return _d(candidates[0], f"no candidate is served now; trying '{candidates[0]}'")
        untried = [c for c in served if latency.get(c) is None]
        if untried:
            reason = f"'{untried[0]}' has not been tried yet" if len(served) > 1 else f"'{untried[0]}' is the only provider served"
            return _d(untried[0], reason)
        best = min(served, key=lambda c: latency[c])
        return _d(best, f"'{best}' has the lowest observed latency ({latency[best]:.2f}ms)")
    if kind == "failure":
        proposed = question.get("proposed", {})
        return _d("accept", f"following the recovery rule: {proposed.get('rationale', '')}")
    if kind == "budget":
        budget = question.get("budget")
        cost, spent = question["cost"], question["spent"]
        if budget is None:
            return _d("allow", "no budget set")
        if spent + cost <= budget:
            return _d("allow", f"cost {cost} fits: {spent} of {budget} spent")
        return _d("refuse", f"cost {cost} would exceed the budget: {spent} of {budget} spent")
    raise ValueError(f"unknown question kind {kind!r}")


def _d(choice: str, rationale: str) -> Decision:
    return {"choice": choice, "rationale": rationale, "by": "python-conductor"}
