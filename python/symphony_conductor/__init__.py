"""The Python Conductor: Symphony's maestro as a bus peer (stdlib only).

Joins the system as ``command: [python3, -m, symphony_conductor]`` and serves:

- ``conductor.decide {kind, ...}`` -> ``{choice, rationale, by}``: the decision policy the melody
  engine asks (which provider serves a step, what a failure leads to, whether a step fits the
  budget). See :mod:`symphony_conductor.policy`.
- ``conductor.report {events}`` -> ``{received}``: the Pit's events (its late edge to the Conductor).
- ``conductor.status`` -> counts.

``python3 -m symphony_conductor up [args]`` starts the whole system the other way round: the
kernel runs as this process's child, with the arguments and the exit code passed through.
"""

from .policy import decide

__all__ = ["decide"]
