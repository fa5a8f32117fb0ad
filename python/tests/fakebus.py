"""A test double of the Symphony bus: the bus side of docs/protocol.md over a Unix socket.

Deliberately independent of symphony_peer's own framing code (it reads with StreamReader's
readline/readexactly), so the tests check the client against a second implementation of the
wire format rather than against itself. Every message received is logged with the framing it
came in, for assertions.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable


def _matches(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    for i, seg in enumerate(p):
        if seg == ">":
            return len(s) > i
        if i >= len(s) or (seg != "*" and seg != s[i]):
            return False
    return len(p) == len(s)


@dataclass
class Received:
    conn: "BusConn"
    message: Any
    framing: str
    at: float = field(default_factory=time.monotonic)


@dataclass
class Forward:
    """A request the bus forwarded to a serving peer under its own id."""

    origin: "BusConn | None"  # None: called by the test (in-process caller)
    origin_id: Any
    target: "BusConn"
    bus_id: int
    future: asyncio.Future[Any] | None = None
    done: bool = False


class BusConn:
    def __init__(self, bus: "FakeBus", reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.bus = bus
        self.reader = reader
        self.writer = writer
        self.framing = "ndjson"
        self.identity: str | None = None
        self.methods: set[str] = set()
        self.patterns: set[str] = set()
        self.ready = False
        self.closed = asyncio.get_running_loop().create_future()
        self.outgoing: dict[Any, Forward] = {}  # origin id -> forward, for its requests

    def send(self, message: Any) -> None:
        if self.writer.is_closing():
            return
        body = json.dumps(message).encode()
        if self.framing == "ndjson":
            self.writer.write(body + b"\n")
        else:
            self.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.bus.sent.append((self, message))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def abort(self) -> None:
        self.writer.transport.abort()

    async def read_message(self) -> tuple[Any, str] | None:
        """One message (parsed JSON, or the exception for bad JSON) and its framing; None at EOF."""
        while True:
            line = await self.reader.readline()
            if not line:
                return None
            if line.lower().startswith(b"content-length:"):
                self.framing = "content-length"
                length = int(line.split(b":", 1)[1].strip())
                while (await self.reader.readline()).strip():
                    pass  # other headers
                body = await self.reader.readexactly(length)
                framing = "content-length"
            elif self.framing == "content-length":
                if not line.strip():
                    continue
                raise AssertionError(f"expected Content-Length framing, got {line!r}")
            else:
                if not line.strip():
                    continue
                body, framing = line, "ndjson"
            try:
                return json.loads(body), framing
            except ValueError as exc:
                return exc, framing


class FakeBus:
    def __init__(
        self,
        path: str,
        tokens: dict[str, str],
        *,
        max_frame_bytes: int = 1024 * 1024,
        provides: dict[str, set[str]] | None = None,
    ) -> None:
        self.path = path
        self.tokens = tokens  # token -> identity
        self.max_frame_bytes = max_frame_bytes
        self.provides = provides or {}
        self.conns: list[BusConn] = []
        self.received: list[Received] = []
        self.sent: list[tuple[BusConn, Any]] = []
        self.handlers: dict[str, Callable[[Any], Any]] = {}
        self._ids = itertools.count(1000)
        self._forwards: dict[int, Forward] = {}
        self._changed = asyncio.Event()
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, self.path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.conns):
            conn.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def drop(self, identity: str | None = None) -> None:
        """Closes connections abruptly (as a crashing bus would)."""
        for conn in list(self.conns):
            if identity is None or conn.identity == identity:
                conn.abort()

    # -- waiting ------------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 3.0) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                value = predicate()
                if value:
                    return value
                self._changed.clear()
                # Woken by bus traffic; the short timeout re-checks conditions on the peer side.
                try:
                    async with asyncio.timeout(0.01):
                        await self._changed.wait()
                except TimeoutError:
                    pass

    def messages(self, method: str | None = None, identity: str | None = None) -> list[Any]:
        return [
            r.message
            for r in self.received
            if isinstance(r.message, dict)
            and (method is None or r.message.get("method") == method)
            and (identity is None or r.conn.identity == identity)
        ]

    async def wait_message(self, method: str, identity: str | None = None, count: int = 1, timeout: float = 3.0) -> list[Any]:
        return await self.wait_for(
            lambda: (found if len(found := self.messages(method, identity)) >= count else None), timeout
        )

    def conn(self, identity: str) -> BusConn:
        for conn in reversed(self.conns):
            if conn.identity == identity and not conn.closed.done():
                return conn
        raise LookupError(identity)

    # -- calls from the test (an in-process caller) ---------------------------------------------

    def start_call(self, method: str, params: Any = None, meta: dict[str, Any] | None = None) -> Forward:
        target = self._route(method)
        if target is None:
            raise LookupError(f"nobody serves {method}")
        forward = self._forward(None, None, target, method, params, meta or {})
        forward.future = asyncio.get_running_loop().create_future()
        # Tests that only start a call never read its outcome: don't log it as unretrieved.
        forward.future.add_done_callback(lambda f: f.cancelled() or f.exception())
        return forward

    async def call(self, method: str, params: Any = None, timeout: float = 3.0, meta: dict[str, Any] | None = None) -> Any:
        forward = self.start_call(method, params, meta)
        assert forward.future is not None
        async with asyncio.timeout(timeout):
            return await forward.future

    def cancel(self, forward: Forward) -> None:
        self._cancel(forward)

    def publish(self, topic: str, data: Any) -> None:
        for conn in self.conns:
            if conn.identity and any(_matches(p, topic) for p in conn.patterns):
                conn.send({"jsonrpc": "2.0", "method": "symphony.event", "params": {"topic": topic, "data": data}})

    # -- the bus side --------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = BusConn(self, reader, writer)
        self.conns.append(conn)
        try:
            while True:
                got = await conn.read_message()
                if got is None:
                    break
                message, framing = got
                self.received.append(Received(conn, message, framing))
                self._handle(conn, message)
                self._notify()
                if writer.is_closing():
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._gone(conn)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, asyncio.CancelledError):
                pass
            self._tasks.discard(task)
            self._notify()

    def _gone(self, conn: BusConn) -> None:
        if not conn.closed.done():
            conn.closed.set_result(None)
        for forward in list(self._forwards.values()):
            if forward.target is conn:
                self._answer(forward, error={"code": -32004, "message": "peer gone"})

    def _reply(self, conn: BusConn, msg_id: Any, result: Any = None, error: dict[str, Any] | None = None) -> None:
        if error is not None:
            conn.send({"jsonrpc": "2.0", "id": msg_id, "error": error})
        else:
            conn.send({"jsonrpc": "2.0", "id": msg_id, "result": result})

    def _handle(self, conn: BusConn, message: Any) -> None:
        if isinstance(message, Exception):
            conn.send({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
            return
        method, msg_id, params = message.get("method"), message.get("id"), message.get("params")
        if conn.identity is None:
            token = params.get("token") if isinstance(params, dict) else None
            if method != "symphony.hello" or not isinstance(params, dict) or params.get("protocol") != 1 or token not in self.tokens:
                self._reply(conn, msg_id, error={"code": -32001, "message": "unauthorized"})
                conn.writer.close()
                return
            conn.identity = self.tokens[token]
            framing = params.get("framing", "ndjson")
            self._reply(
                conn,
                msg_id,
                {"protocol": 1, "peer": conn.identity, "framing": framing, "maxFrameBytes": self.max_frame_bytes, "heartbeatMs": 5000},
            )
            conn.framing = framing  # hello's answer went out in NDJSON; from now on, the new framing
            return
        if method is None:
            self._on_response(conn, message)
        elif "id" not in message:
            self._on_notification(conn, method, params)
        else:
            self._on_request(conn, msg_id, method, params, message.get("meta") or {})

    def _on_request(self, conn: BusConn, msg_id: Any, method: str, params: Any, meta: dict[str, Any]) -> None:
        if method == "symphony.ping":
            self._reply(conn, msg_id, {})
        elif method in ("symphony.register", "symphony.unregister"):
            methods = params["methods"]
            allowed = self.provides.get(conn.identity or "")
            if method == "symphony.register" and allowed is not None and not set(methods) <= allowed:
                self._reply(conn, msg_id, error={"code": -32002, "message": "forbidden", "data": {"methods": methods}})
                return
            if method == "symphony.register":
                conn.methods.update(methods)
            else:
                conn.methods.difference_update(methods)
            self._reply(conn, msg_id, {"methods": methods})
        elif method == "symphony.subscribe":
            conn.patterns.add(params["pattern"])
            self._reply(conn, msg_id, {})
        elif method == "symphony.unsubscribe":
            conn.patterns.discard(params["pattern"])
            self._reply(conn, msg_id, {})
        elif method in self.handlers:
            task = asyncio.get_running_loop().create_task(self._run_inproc(conn, msg_id, method, params))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            target = self._route(method)
            if target is None:
                self._reply(conn, msg_id, error={"code": -32601, "message": f"nobody serves {method}", "data": {"method": method}})
                return
            forward = self._forward(conn, msg_id, target, method, params, meta)
            conn.outgoing[msg_id] = forward

    async def _run_inproc(self, conn: BusConn, msg_id: Any, method: str, params: Any) -> None:
        try:
            result = self.handlers[method](params)
            if asyncio.iscoroutine(result):
                result = await result
            self._reply(conn, msg_id, result)
        except Exception as exc:  # noqa: BLE001
            self._reply(conn, msg_id, error={"code": -32603, "message": str(exc)})

    def _route(self, method: str) -> BusConn | None:
        for conn in self.conns:
            if conn.identity and not conn.closed.done() and any(_matches(m, method) for m in conn.methods):
                return conn
        return None

    def _forward(self, origin: BusConn | None, origin_id: Any, target: BusConn, method: str, params: Any, meta: dict[str, Any]) -> Forward:
        bus_id = next(self._ids)
        forward = Forward(origin, origin_id, target, bus_id)
        self._forwards[bus_id] = forward
        out_meta = {
            "traceparent": meta.get("traceparent") or f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01",
            "deadline": meta.get("deadline") or int(time.time() * 1000 + 30_000),
        }
        if origin is not None and origin.identity:
            out_meta["peer"] = origin.identity
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": bus_id, "method": method, "meta": out_meta}
        if params is not None:
            message["params"] = params
        target.send(message)
        return forward

    def _answer(self, forward: Forward, result: Any = None, error: dict[str, Any] | None = None) -> None:
        if forward.done:
            return
        forward.done = True
        self._forwards.pop(forward.bus_id, None)
        if forward.origin is not None:
            forward.origin.outgoing.pop(forward.origin_id, None)
            self._reply(forward.origin, forward.origin_id, result, error)
        elif forward.future is not None and not forward.future.done():
            if error is not None:
                forward.future.set_exception(RuntimeError(json.dumps(error)))
            else:
                forward.future.set_result(result)

    def _cancel(self, forward: Forward) -> None:
        """A caller cancelled: answer it -32800 at once, tell the serving peer."""
        if forward.done:
            return
        self._answer(forward, error={"code": -32800, "message": "request cancelled"})
        forward.target.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": forward.bus_id}})

    def _on_response(self, conn: BusConn, message: dict[str, Any]) -> None:
        forward = self._forwards.get(message.get("id"))  # type: ignore[arg-type]
        if forward is None or forward.target is not conn:
            return  # late (cancelled) or unknown: dropped
        self._answer(forward, message.get("result"), message.get("error"))

    def _on_notification(self, conn: BusConn, method: str, params: Any) -> None:
        if method == "$/cancelRequest":
            forward = conn.outgoing.get(params.get("id"))
            if forward is not None:
                self._cancel(forward)
        elif method == "symphony.publish":
            self.publish(params["topic"], params.get("data"))
        elif method == "symphony.ready":
            conn.ready = True
