#!/usr/bin/env python3
"""Example Symphony peer: counts words.

Serves
  text.wordCount  {text}      -> {words}   and publishes the event text.counted {words, chars}
  text.slow       {seconds?}  -> {slept}   sleeps; a $/cancelRequest (or the deadline) stops it
and subscribes to text.> (it logs every event it sees, its own included).

Transport: the Unix socket in $SYMPHONY_BUS when set, else stdin/stdout (spawned by the kernel);
the token comes from $SYMPHONY_TOKEN. Logs go to stderr. Run: python3 python/examples/wordcount_peer.py
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Any

# Runnable from a checkout without installing the package.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from symphony_peer import InvalidParams, Peer, RequestContext, Unauthorized  # noqa: E402

log = logging.getLogger("wordcount")


def build_peer() -> Peer:
    peer = Peer("wordcount")

    @peer.handle("text.wordCount")
    async def word_count(params: Any, ctx: RequestContext) -> dict[str, int]:
        text = params.get("text") if isinstance(params, dict) else None
        if not isinstance(text, str):
            raise InvalidParams("params.text must be a string", {"method": ctx.method})
        words = len(text.split())
        peer.publish("text.counted", {"words": words, "chars": len(text)})
        return {"words": words}

    @peer.handle("text.slow")
    async def slow(params: Any, ctx: RequestContext) -> dict[str, float]:
        seconds = params.get("seconds", 5.0) if isinstance(params, dict) else 5.0
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
            raise InvalidParams("params.seconds must be a non-negative number", {"method": ctx.method})
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            log.info("text.slow #%s cancelled (ctx.cancelled=%s)", ctx.id, ctx.cancelled.is_set())
            raise  # let the cancellation finish: the bus expects no answer now
        return {"slept": float(seconds)}

    return peer


def on_text_event(topic: str, data: Any) -> None:
    log.info("event %s: %r", topic, data)


async def main() -> int:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        stream=sys.stderr,
        format="%(asctime)s wordcount %(levelname)s %(message)s",
    )
    peer = build_peer()
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: closing.append(loop.create_task(peer.close())))
    try:
        async with peer:
            await peer.subscribe("text.>", on_text_event)
            await peer.register()
            peer.ready()
            log.info("serving as %s", peer.identity)
            await peer.run()
    except Unauthorized as exc:
        log.error("the bus refused this peer: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
