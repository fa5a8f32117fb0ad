#!/usr/bin/env python3
"""A Python peer for the bus benchmark: python/symphony_peer (stdlib asyncio), spawned by the
bench's kernel with bus.spawnPeer over stdio or the bus's Unix socket (the library picks the
transport from $SYMPHONY_TRANSPORT, else $SYMPHONY_BUS). Serves bench.echo (params -> params).
Exits when the kernel is gone.
"""

from __future__ import annotations

import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

import symphony_peer  # noqa: E402


class _ExitOnEof(asyncio.Protocol):
    def connection_lost(self, exc: Exception | None) -> None:
        os._exit(0)


async def main() -> None:
    peer = await symphony_peer.connect("bench-python")

    @peer.handle("bench.echo")
    async def echo(params, ctx):  # noqa: ANN001, ANN202
        return params

    await peer.register()
    peer.ready()
    if os.environ.get("SYMPHONY_TRANSPORT", "socket" if os.environ.get("SYMPHONY_BUS") else "stdio") == "socket":
        # Socket mode: stdin is still a pipe from the kernel; its EOF means the kernel is gone.
        await asyncio.get_running_loop().connect_read_pipe(_ExitOnEof, sys.stdin)
    await peer.run()


if __name__ == "__main__":
    asyncio.run(main())
