"""Byte pipes to the bus: a Unix socket, or this process's stdin/stdout.

A transport delivers bytes to a :class:`Sink` as they arrive (a protocol callback: no reader
task, no extra hop) and reports the end of the connection exactly once, whichever direction ends
first. Writes go to asyncio's transport buffer; ``drain()`` waits while that buffer is over its
high-water mark, which is how a peer stops producing when the bus stops reading.

stdio on files that cannot be polled (a regular file or ``/dev/null`` as stdin or stdout) falls
back to reads in the default executor and synchronous writes: such reads and writes complete at
once, so neither can hang the loop or its shutdown.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from typing import Protocol

__all__ = ["ByteTransport", "Sink", "open_unix", "open_stdio"]

#: Bytes asked for per read. asyncio's own transports ask for 256 KiB, and a buffer that size
#: comes from a fresh mmap (and goes back with munmap) on every read: on Linux that costs more
#: than handling a small request. 64 KiB buffers come from the heap and are reused.
_READ_SIZE = 64 * 1024


def _limit_reads(transport: asyncio.BaseTransport) -> None:
    """Makes an asyncio socket or read-pipe transport read ``_READ_SIZE`` bytes at a time.

    ``max_size`` is the class attribute those transports read with (in every CPython since 3.4);
    a transport without it (another event loop's) is left as it is.
    """
    if isinstance(getattr(type(transport), "max_size", None), int):
        transport.max_size = _READ_SIZE  # type: ignore[attr-defined]


class Sink(Protocol):
    """Receives what a transport reads."""

    def data_received(self, data: bytes) -> None: ...

    def connection_lost(self, exc: BaseException | None) -> None:
        """The connection ended (EOF, error, or ``close()``); called exactly once."""


class _Pipe(asyncio.Protocol):
    """asyncio protocol of one socket or pipe; forwards everything to its :class:`ByteTransport`."""

    def __init__(self, owner: ByteTransport) -> None:
        self._owner = owner

    def data_received(self, data: bytes) -> None:
        self._owner._on_data(data)

    def eof_received(self) -> bool:
        return False  # the bus is gone: close our side too

    def pause_writing(self) -> None:
        self._owner._set_paused(True)

    def resume_writing(self) -> None:
        self._owner._set_paused(False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._part_done(exc)


class ByteTransport:
    """One connection's byte pipe: a socket, or a read side and a write side (stdio)."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._loop = asyncio.get_running_loop()
        self._reader: asyncio.BaseTransport | None = None
        self._writer: asyncio.WriteTransport | None = None
        self._read_task: asyncio.Task[None] | None = None  # executor reads (unpollable stdin)
        self._in_fd = -1  # unpollable stdin, closed at the end
        self._out_fd = -1  # unpollable stdout, written synchronously
        self._parts = 0  # open asyncio transports and read tasks
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._lost = False
        self._closing = False
        self._paused = False
        self._drainers: list[asyncio.Future[None]] = []

    # -- setup -------------------------------------------------------------------------------

    def _pipe(self) -> _Pipe:
        self._parts += 1
        return _Pipe(self)

    def _start_reading_fd(self, fd: int) -> None:
        self._in_fd = fd
        self._parts += 1
        self._read_task = self._loop.create_task(self._read_fd(fd))

    async def _read_fd(self, fd: int) -> None:
        error: BaseException | None = None
        try:
            while not self._closing:
                data = await self._loop.run_in_executor(None, os.read, fd, _READ_SIZE)
                if not data or self._closing:
                    break
                self._on_data(data)
        except OSError as exc:
            error = exc
        self._part_done(error)

    # -- events ------------------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        if not self._lost:
            self._sink.data_received(data)

    def _set_paused(self, paused: bool) -> None:
        self._paused = paused
        if not paused:
            self._wake_drainers()

    def _wake_drainers(self) -> None:
        drainers, self._drainers = self._drainers, []
        for waiter in drainers:
            if not waiter.done():
                waiter.set_result(None)

    def _part_done(self, exc: BaseException | None) -> None:
        self._parts -= 1
        self._report_lost(exc)
        self._maybe_closed()

    def _report_lost(self, exc: BaseException | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._set_paused(False)
        self.close()  # either direction ending ends the connection
        self._sink.connection_lost(exc)

    def _maybe_closed(self) -> None:
        if self._parts <= 0 and self._closing and not self._closed.done():
            for fd in (self._in_fd, self._out_fd):
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._in_fd = self._out_fd = -1
            self._closed.set_result(None)

    # -- API ---------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queues ``data`` (never blocks; ignored once closing)."""
        if self._closing:
            return
        if self._writer is not None:
            if not self._writer.is_closing():
                self._writer.write(data)
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._out_fd, view) :]
        except OSError as exc:
            self._report_lost(exc)

    def write_buffer_size(self) -> int:
        """Bytes written but not yet handed to the OS."""
        if self._writer is None or self._writer.is_closing():
            return 0
        return self._writer.get_write_buffer_size()

    async def drain(self) -> None:
        """Waits while the write buffer is over its high-water mark (returns at once if closed)."""
        if not self._paused or self._closing:
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._drainers.append(waiter)
        await waiter

    def close(self) -> None:
        """Starts closing: a write transport flushes its buffer first; idempotent."""
        if self._closing:
            return
        self._closing = True
        self._wake_drainers()
        for transport in (self._writer, self._reader):
            if transport is not None and not transport.is_closing():
                transport.close()
        # An executor read in progress is not cancelled: it returns at once on such files, and
        # its fd must stay open (not be reused) until it has.
        self._maybe_closed()

    def abort(self) -> None:
        """Closes at once, dropping buffered output (a bus that stopped reading)."""
        self.close()
        if self._writer is not None:
            self._writer.abort()  # a socket's reader is the same transport; a read pipe is closed already

    def is_closing(self) -> bool:
        return self._closing

    async def wait_closed(self) -> None:
        """Waits until every part has released its OS resources."""
        await asyncio.shield(self._closed)


async def open_unix(path: str, sink: Sink) -> ByteTransport:
    """Connects to the bus's Unix socket at ``path``."""
    owner = ByteTransport(sink)
    transport, _ = await owner._loop.create_unix_connection(owner._pipe, path)
    _limit_reads(transport)
    owner._reader = transport
    owner._writer = transport
    return owner


def _pollable(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)


async def open_stdio(sink: Sink, *, protect_stdout: bool = True) -> ByteTransport:
    """Uses stdin/stdout as the connection (the kernel spawned this process).

    Works on duplicates of fds 0 and 1, so closing the connection leaves the process's own
    descriptors valid. With ``protect_stdout`` fd 1 is then pointed at stderr: a stray
    ``print()`` lands in the log instead of corrupting the frame stream.
    """
    sys.stdout.flush()
    in_fd = os.dup(sys.stdin.fileno())
    out_fd = os.dup(sys.stdout.fileno())
    if protect_stdout:
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    owner = ByteTransport(sink)
    try:
        if _pollable(out_fd):
            out_file = os.fdopen(out_fd, "wb", buffering=0)
            out_fd = -1  # owned by out_file now
            owner._writer, _ = await owner._loop.connect_write_pipe(owner._pipe, out_file)
        else:
            owner._out_fd, out_fd = out_fd, -1
        if _pollable(in_fd):
            in_file = os.fdopen(in_fd, "rb", buffering=0)
            in_fd = -1
            owner._reader, _ = await owner._loop.connect_read_pipe(owner._pipe, in_file)
            _limit_reads(owner._reader)
        else:
            owner._start_reading_fd(in_fd)
            in_fd = -1
    except BaseException:
        owner.close()
        for fd in (in_fd, out_fd):
            if fd >= 0:
                os.close(fd)
        raise
    return owner
