#!/usr/bin/env python3
"""The Python transport baseline: a minimal asyncio NDJSON JSON-RPC echo (the same event loop
machinery as python/symphony_peer, none of its protocol). Per incoming chunk: json.loads each
line, json.dumps the answer, one write of all answers.
Usage: python-raw-echo.py stdio | socket <path>. Exits when the bench process is gone.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys


class Echo(asyncio.Protocol):
    def __init__(self, writer: asyncio.WriteTransport | None = None) -> None:
        self.writer = writer
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Read 64 KiB at a time, as symphony_peer does: asyncio's default 256 KiB read buffer is
        # mmapped and unmapped on every read, which would handicap this baseline.
        if isinstance(getattr(type(transport), "max_size", None), int):
            transport.max_size = 64 * 1024  # type: ignore[attr-defined]
        if self.writer is None:
            self.writer = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        out = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            m = json.loads(buf[start:nl])
            start = nl + 1
            out.append(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": m.get("params")}, separators=(",", ":")).encode() + b"\n")
        self.buf = buf[start:]
        if out:
            self.writer.write(b"".join(out))  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        os._exit(0)


class _ExitOnEof(asyncio.Protocol):
    def connection_lost(self, exc: Exception | None) -> None:
        os._exit(0)


async def main() -> None:
    loop = asyncio.get_running_loop()
    mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if mode == "socket":
        await loop.create_unix_connection(Echo, sys.argv[2])
        await loop.connect_read_pipe(_ExitOnEof, sys.stdin)
    else:
        writer, _ = await loop.connect_write_pipe(asyncio.Protocol, sys.stdout)
        await loop.connect_read_pipe(lambda: Echo(writer), sys.stdin)
    await loop.create_future()


if __name__ == "__main__":
    asyncio.run(main())
