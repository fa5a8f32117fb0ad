"""``python3 -m symphony_conductor`` (a bus peer) or ``python3 -m symphony_conductor up [args]``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from typing import Any

from symphony_peer import InvalidParams, Peer, RequestContext

from .policy import decide

log = logging.getLogger("symphony_conductor")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


async def serve() -> int:
    """The maestro as a peer: the policy, the Pit's events, a status."""
    peer = Peer("conductor")
    counts = {"decisions": 0, "events": 0}

    @peer.handle("conductor.decide")
    async def on_decide(params: Any, ctx: RequestContext) -> dict[str, Any]:
        if not isinstance(params, dict):
            raise InvalidParams("conductor.decide needs a question object")
        try:
            answer = decide(params)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidParams(f"conductor.decide: {exc}") from exc
        counts["decisions"] += 1
        return answer

    @peer.handle("conductor.report")
    async def on_report(params: Any, ctx: RequestContext) -> dict[str, int]:
        events = params.get("events", []) if isinstance(params, dict) else []
        counts["events"] += len(events)
        for e in events[:5]:
            log.debug("pit event %s.%s", e.get("extension"), e.get("type"))
        return {"received": len(events)}

    @peer.handle("conductor.status")
    async def on_status(params: Any, ctx: RequestContext) -> dict[str, Any]:
        return {"status": "Running", "policy": "python", "pid": os.getpid(), **counts}

    async with peer:
        await peer.register()
        peer.ready()
        log.info("the Python Conductor is ready as %s", peer.identity)
        await peer.run()
    return 0


def up(args: list[str]) -> int:
    """Starts the system with the kernel as a child process; signals and the exit code pass through."""
    cli = os.path.join(REPO, "dist", "cli", "main.js")
    if not os.path.exists(cli):
        print(f"symphony_conductor: the kernel is not built ({cli} is missing): run npm ci in {REPO}", file=sys.stderr)
        return 2
    if "-c" not in args and "--config" not in args and not any(a.startswith("--config=") for a in args):
        args = ["-c", os.path.join(REPO, "examples", "python-conductor.yaml"), *args]
    # Its own session: a terminal's Ctrl-C reaches this process only, which forwards it once (a second
    # Ctrl-C forwards a second SIGINT: the kernel's "exit now"). The kernel stops if this process dies.
    env = {**os.environ, "SYMPHONY_EXIT_WITH_PARENT": "1"}
    child = subprocess.Popen(["node", cli, "up", *args], start_new_session=True, env=env)

    def forward(signum: int, _frame: Any) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    return child.wait()


def _log_level() -> str:
    """``LOG_LEVEL``, else the component's ``with: { logLevel }`` (SYMPHONY_CONFIG), else INFO."""
    if os.environ.get("LOG_LEVEL"):
        return os.environ["LOG_LEVEL"]
    try:
        config = json.loads(os.environ.get("SYMPHONY_CONFIG") or "null")
    except ValueError:
        config = None
    level = config.get("logLevel") if isinstance(config, dict) else None
    return level.upper() if isinstance(level, str) and level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO"


def main(argv: list[str]) -> int:
    logging.basicConfig(level=_log_level(), stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    if argv and argv[0] == "up":
        return up(argv[1:])
    if argv:
        print("usage: python3 -m symphony_conductor [up [symphony up args...]]", file=sys.stderr)
        return 2
    return asyncio.run(serve())


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.exit(code if code >= 0 else 128 - code)
