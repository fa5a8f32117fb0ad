"""The decision policy, in Python: the same rules as the kernel's built-in one, so a melody gives
the same results whichever Conductor decides (and this is where a learned policy would go).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
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
            return _d(candidates[0], f"no candidate is served now; trying '{candidates[0]}' (it fails at once if nobody serves it)")
        untried = [c for c in served if latency.get(c) is None]
        if untried:
            reason = f"'{untried[0]}' has not been tried yet" if len(served) > 1 else f"'{untried[0]}' is the only provider served"
            return _d(untried[0], reason)
        # The first of equals wins, as in the kernel's policy (min keeps the first minimum too).
        best = min(served, key=lambda c: latency[c])
        if len(served) == 1:
            return _d(best, f"'{best}' is the only provider served")
        return _d(best, f"'{best}' has the lowest observed latency ({_fixed2(latency[best])}ms)")
    if kind == "failure":
        proposed = question.get("proposed", {})
        return _d("accept", f"following the recovery rule: {proposed.get('rationale', '')}")
    if kind == "budget":
        budget = question.get("budget")
        cost, spent = question["cost"], question["spent"]
        if budget is None:
            return _d("allow", "no budget set")
        c, s, b = _js_number(cost), _js_number(spent), _js_number(budget)
        if float(spent) + float(cost) <= float(budget):  # as the kernel adds: in doubles
            return _d("allow", f"cost {c} fits: {s} of {b} spent")
        return _d("refuse", f"cost {c} would exceed the budget: {s} of {b} spent")
    raise ValueError(f"unknown question kind {kind!r}")


def _fixed2(x: float) -> str:
    """``x`` as JavaScript's ``toFixed(2)`` writes it: the stored binary value rounded half away
    from zero (Python's own formatting rounds half to even: 0.125 would be 0.12, not 0.13)."""
    if x != x or x in (float("inf"), float("-inf")) or abs(x) >= 1e21:
        return _js_number(x)
    if x == 0:
        return "0.00"  # -0 too, as toFixed writes it
    return str(Decimal(x).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _js_number(x: Any) -> str:
    """A JSON number as JavaScript's String(x) writes it (``${x}`` in the kernel's rationales):
    the same shortest digits as Python's repr, with JavaScript's choice of notation."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    x = float(x)
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # Position of the decimal point relative to the first significant digit (JavaScript's n).
    n = len(whole.lstrip("0")) if whole.strip("0") else -(len(frac) - len(frac.lstrip("0")))
    n += int(exp or 0)
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    body = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{body}e{'+' if e >= 0 else '-'}{abs(e)}"


def _d(choice: str, rationale: str) -> Decision:
    return {"choice": choice, "rationale": rationale, "by": "python-conductor"}
