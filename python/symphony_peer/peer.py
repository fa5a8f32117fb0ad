"""The peer: one process's session with the Symphony bus (docs/protocol.md).

A :class:`Peer` owns at most one live :class:`~.connection.Connection` at a time. What is tied
to a connection (decoder, outbox, hello id, calls waiting for answers, handlers running) dies
with it: a drop fails its calls with ``PeerGone`` and a reconnect starts clean. What must
survive (handlers, registrations, subscriptions, "ready") lives on the peer and is replayed
after the new hello.

Concurrency: bytes arrive through a transport callback and are dispatched synchronously
(responses resolve futures; requests, notifications and async event callbacks become tasks).
Every task the peer starts is tracked, and :meth:`Peer.close` cancels and awaits them all.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final, Literal, TypeVar, overload

from .backoff import Backoff
from .connection import Connection, JsonId, is_id
from .context import _current, child_traceparent
from .errors import (
    INVALID_REQUEST,
    MESSAGE_TOO_LARGE,
    PARSE_ERROR,
    BusError,
    InternalError,
    MessageTooLarge,
    PeerGone,
    Timeout,
    Unauthorized,
    error_from_wire,
)
from .framing import DEFAULT_MAX_FRAME_BYTES, FRAMINGS, FrameError, Framing
from .pubsub import EventCallback, Subscriptions
from .serving import RESERVED_PREFIXES, Handler, Handlers, eager_task
from .subjects import validate_pattern, validate_subject
from .transport import open_stdio, open_unix

__all__ = ["Peer", "connect", "Handler", "EventCallback", "PROTOCOL_VERSION"]

log = logging.getLogger("symphony_peer")

PROTOCOL_VERSION: Final = 1
#: How long close() waits for handlers that ignore cancellation and for output to flush.
_CLOSE_GRACE: Final = 2.0

H = TypeVar("H", bound=Handler)


_TOKEN_FROM_FD: str | None = None


def inherited_token() -> str | None:
    """The token on the descriptor ``$SYMPHONY_TOKEN_FD`` the kernel gave this process, read to its
    end once; the descriptor is closed and the variable dropped so nothing run later reads it."""
    global _TOKEN_FROM_FD
    if _TOKEN_FROM_FD is not None:
        return _TOKEN_FROM_FD
    raw = os.environ.pop("SYMPHONY_TOKEN_FD", None)
    if not raw or not raw.isdigit() or int(raw) < 3:
        return None
    fd = int(raw)
    chunks: list[bytes] = []
    try:
        while True:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    _TOKEN_FROM_FD = b"".join(chunks).decode("utf-8").strip()
    return _TOKEN_FROM_FD


class Peer:
    """A client of the Symphony bus: calls methods, serves methods, publishes and subscribes.

    Build it and ``await peer.start()`` (or use :func:`connect`, or ``async with Peer(...)``).

    Transport (``stdio``): ``True`` uses stdin/stdout (the kernel spawned this process);
    ``False`` the Unix socket ``path`` or ``$SYMPHONY_BUS``. ``None`` (default) follows
    ``$SYMPHONY_TRANSPORT`` (``stdio`` or ``socket``, set by the kernel for peers it spawns), else
    picks the socket when ``path`` is given or ``$SYMPHONY_BUS`` is set, else stdio.

    Token: ``token``, else the one the kernel handed a peer it spawned on an inherited descriptor
    (``$SYMPHONY_TOKEN_FD``: read once, then closed), else ``$SYMPHONY_TOKEN`` (for peers started by
    hand), else (socket only) the file ``<socket>.token``, re-read at every reconnect because the
    bus rewrites it when it restarts.
    """

    def __init__(
        self,
        name: str,
        *,
        path: str | None = None,
        token: str | None = None,
        stdio: bool | None = None,
        framing: Framing = "ndjson",
        reconnect: bool = True,
        backoff: Backoff | None = None,
        hello_timeout: float = 10.0,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        protect_stdout: bool = True,
    ) -> None:
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {FRAMINGS}, not {framing!r}")
        env_bus = os.environ.get("SYMPHONY_BUS") or None
        if stdio is None:
            # The kernel says which transport it gave a peer it spawned; else: a socket if one is known.
            env_transport = os.environ.get("SYMPHONY_TRANSPORT")
            if env_transport in ("stdio", "socket") and path is None:
                stdio = env_transport == "stdio"
            else:
                stdio = path is None and env_bus is None
        if not stdio:
            path = path or env_bus
            if not path:
                raise ValueError("socket mode needs path= or $SYMPHONY_BUS")
        self.name = name
        self.path: str | None = None if stdio else path
        self.stdio: bool = stdio
        self.framing: Framing = framing
        self.reconnect: bool = reconnect and not stdio  # stdin EOF means the kernel is gone
        self.backoff = backoff or Backoff()
        self.hello_timeout = hello_timeout
        #: Largest frame this peer accepts from the bus (bigger ones are skipped and reported).
        self.max_frame_bytes = max_frame_bytes
        self.protect_stdout = protect_stdout
        #: Identity the bus gave this peer in the last hello (from the token, not the name).
        self.identity: str | None = None
        #: The bus's heartbeat interval in milliseconds, from hello.
        self.heartbeat_ms: int | None = None
        self._token = token if token is not None else (inherited_token() or os.environ.get("SYMPHONY_TOKEN") or None)

        label = f"symphony peer {name}"
        self._handlers = Handlers(label, self._spawn)
        self._subscriptions = Subscriptions(label, self._spawn)
        self._registered: set[str] = set()
        self._ready_sent = False
        self._ready_params: Any = None

        self._ids = itertools.count(1)
        self._pending: dict[JsonId, tuple[Connection, asyncio.Future[Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._conn: Connection | None = None
        self._session_changed: asyncio.Event | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        self._closed_event: asyncio.Event | None = None
        self._started = False
        self._closing = False
        self._fatal: BaseException | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while a session is established (hello done, state restored)."""
        return self._conn is not None and self._conn.ready

    @property
    def closed(self) -> bool:
        return self._closing

    async def start(self) -> Peer:
        """Connects and says hello; raises ``Unauthorized``, ``OSError`` or ``Timeout`` on failure."""
        if self._started:
            if self._closing:
                # A refused reconnect closed it: say why (run() promises Unauthorized), not just "closed".
                raise self._fatal if self._fatal is not None else PeerGone("peer is closed")
            return self
        self._started = True
        self._session_changed = asyncio.Event()
        self._closed_event = asyncio.Event()
        try:
            conn = await self._connect()
        except BaseException:
            self._closing = True
            self._closed_event.set()
            raise
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(conn), name=f"symphony peer {self.name}: supervisor"
        )
        return self

    async def close(self) -> None:
        """Closes the connection; cancels and awaits every task the peer started.

        Pending requests fail with ``PeerGone``. Safe to call more than once, from anywhere
        (even from a handler, which is then cancelled like the others).
        """
        if not self._started:
            self._started = self._closing = True
            return
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(
                self._shutdown(), name=f"symphony peer {self.name}: close"
            )
        await asyncio.shield(self._close_task)

    async def wait_closed(self) -> None:
        """Returns once the peer is closed (``close()``, stdin EOF, a drop without reconnect,
        or a refused reconnect)."""
        if self._closed_event is None:
            return
        await self._closed_event.wait()
        if self._close_task is not None:
            await asyncio.shield(self._close_task)

    async def run(self) -> None:
        """Serves until the connection closes for good; raises ``Unauthorized`` if a reconnect
        was refused (so a process exiting on it signals the failure)."""
        await self.start()
        await self.wait_closed()
        if self._fatal is not None:
            raise self._fatal

    async def __aenter__(self) -> Peer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- serving -------------------------------------------------------------------------------

    @overload
    def handle(self, method: str) -> Callable[[H], H]: ...

    @overload
    def handle(self, method: str, fn: H) -> H: ...

    def handle(self, method: str, fn: H | None = None) -> H | Callable[[H], H]:
        """Sets the handler of ``method`` (a name, or a pattern such as ``text.*``).

        Use as ``@peer.handle("text.wordCount")`` or ``peer.handle("text.wordCount", fn)``.
        The bus routes calls here once told: call :meth:`register` afterwards.
        """
        Handlers.validate(method)  # now, not when the decorator is applied

        def add(handler: H) -> H:
            self._handlers.add(method, handler)
            return handler

        return add if fn is None else add(fn)

    async def register(self, *methods: str, timeout: float | None = 30.0) -> list[str]:
        """Tells the bus this peer serves ``methods`` (default: every handled method).

        Re-sent after every reconnect. Raises ``Forbidden`` for methods the peer may not serve.
        """
        names = list(methods) if methods else self._handlers.names()
        for name in names:
            validate_pattern(name, "method")
        result = await self.request("symphony.register", {"methods": names}, timeout=timeout)
        self._registered.update(names)
        if isinstance(result, dict) and isinstance(result.get("methods"), list):
            return [m for m in result["methods"] if isinstance(m, str)]
        return names

    async def unregister(self, *methods: str, timeout: float | None = 30.0) -> None:
        """Stops serving ``methods`` (default: every registered one); local handlers stay."""
        names = list(methods) if methods else sorted(self._registered)
        self._registered.difference_update(names)
        if names:
            await self.request("symphony.unregister", {"methods": names}, timeout=timeout)

    def ready(self, params: Any = None) -> None:
        """Sends ``symphony.ready`` (and again after every reconnect)."""
        self._ready_sent = True
        self._ready_params = params
        self.notify("symphony.ready", params)

    # -- calling -------------------------------------------------------------------------------

    async def request(self, method: str, params: Any = None, *, timeout: float | None = 30.0) -> Any:
        """Calls ``method`` through the bus and returns its result.

        Raises the :class:`BusError` subclass of the answer's code; ``Timeout`` after ``timeout``
        seconds (``$/cancelRequest`` is then sent); ``PeerGone`` when the connection drops first.
        Cancelling the awaiting task sends ``$/cancelRequest`` too. While a reconnect is under way
        the call waits for it, within ``timeout``. Inside a handler the call joins the handler's
        trace and never outlives its deadline.
        """
        deadline_ms, loop_deadline = self._deadline(timeout)
        try:
            async with asyncio.timeout_at(loop_deadline):
                conn = await self._session()
        except TimeoutError:
            raise Timeout(f"{method}: not connected to the bus within {timeout}s", {"method": method}) from None
        if conn.transport is not None:
            try:
                # Backpressure (the bus is not reading fast enough), within the call's own timeout.
                async with asyncio.timeout_at(loop_deadline):
                    await conn.transport.drain()
            except TimeoutError:
                raise Timeout(f"{method}: the bus did not read what this peer sent within {timeout}s", {"method": method}) from None
        return await self._call(conn, method, params, deadline_ms, loop_deadline)

    def notify(self, method: str, params: Any = None) -> None:
        """Sends a notification (no answer). Raises ``PeerGone`` when not connected."""
        conn = self._conn
        if conn is None or not conn.hello_done or conn.closed or self._closing:
            raise PeerGone("not connected to the bus")
        conn.notify(method, params)

    async def ping(self, timeout: float | None = 5.0) -> float:
        """Pings the bus; returns the round trip in seconds."""
        started = time.monotonic()
        await self.request("symphony.ping", None, timeout=timeout)
        return time.monotonic() - started

    # -- pub/sub -------------------------------------------------------------------------------

    def publish(self, topic: str, data: Any = None) -> None:
        """Publishes ``data`` on ``topic`` (a concrete subject) to every matching subscriber."""
        validate_subject(topic)
        self.notify("symphony.publish", {"topic": topic, "data": data})

    async def subscribe(self, pattern: str, callback: EventCallback, *, timeout: float | None = 30.0) -> None:
        """Calls ``callback(topic, data)`` for every event matching ``pattern``.

        One bus subscription per pattern, however many callbacks share it; re-sent after every
        reconnect. Async callbacks each run in their own task; exceptions are logged.
        """
        handle, first = self._subscriptions.add(pattern, callback)
        if not first:
            return
        try:
            await self.request("symphony.subscribe", {"pattern": pattern}, timeout=timeout)
        except BaseException:
            self._subscriptions.discard(handle)
            raise

    async def unsubscribe(
        self, pattern: str, callback: EventCallback | None = None, *, timeout: float | None = 30.0
    ) -> None:
        """Removes ``callback`` (default: every callback) of ``pattern``; the bus subscription
        goes when no callback is left."""
        if self._subscriptions.remove(pattern, callback) and self.connected:
            await self.request("symphony.unsubscribe", {"pattern": pattern}, timeout=timeout)

    # -- internals: sessions -------------------------------------------------------------------

    def _deadline(self, timeout: float | None) -> tuple[int | None, float | None]:
        """``(epoch ms, loop time)`` of a call's deadline: ``timeout`` from now, capped by the
        deadline of the handler it is made from."""
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be >= 0 or None")
        now = time.time()
        until: float | None = None if timeout is None else now + timeout
        parent = _current.get()
        if parent is not None and parent.deadline is not None:
            inherited = parent.deadline / 1000.0
            until = inherited if until is None else min(until, inherited)
        if until is None:
            return None, None
        return int(until * 1000), asyncio.get_running_loop().time() + (until - now)

    async def _session(self) -> Connection:
        """The ready connection, waiting for a reconnect if one is under way."""
        if not self._started or self._session_changed is None:
            raise RuntimeError("the peer is not started: await peer.start() or use connect()")
        while True:
            if self._closing:
                raise PeerGone("peer is closed")
            conn = self._conn
            if conn is not None and conn.ready and not conn.closed:
                return conn
            self._session_changed.clear()
            await self._session_changed.wait()

    def _session_change(self) -> None:
        if self._session_changed is not None:
            self._session_changed.set()

    def _resolve_token(self) -> str | None:
        if self._token is not None or self.path is None:
            return self._token
        try:
            with open(f"{self.path}.token", encoding="utf-8") as fh:
                return fh.read().strip() or None
        except OSError:
            return None

    async def _connect(self) -> Connection:
        """Opens a transport, says hello, replays registrations and subscriptions."""
        conn = Connection(max_frame_bytes=self.max_frame_bytes, on_item=self._dispatch, on_lost=self._connection_lost)
        self._conn = conn
        try:
            if self.stdio:
                conn.transport = await open_stdio(conn, protect_stdout=self.protect_stdout)
            else:
                assert self.path is not None
                conn.transport = await open_unix(self.path, conn)
            await self._establish(conn)
        except BaseException:
            await conn.aclose(_CLOSE_GRACE)
            raise
        return conn

    async def _establish(self, conn: Connection) -> None:
        params: dict[str, Any] = {"protocol": PROTOCOL_VERSION, "peer": self.name}
        token = self._resolve_token()
        if token is not None:
            params["token"] = token
        if self.framing != "ndjson":
            params["framing"] = self.framing
        deadline_ms, loop_deadline = self._deadline(self.hello_timeout)
        result = await self._call(conn, "symphony.hello", params, deadline_ms, loop_deadline, hello=True)
        if not isinstance(result, dict):
            raise InternalError(f"malformed hello result: {result!r}")
        conn.hello_done = True
        self.identity = result.get("peer") if isinstance(result.get("peer"), str) else None
        limit = result.get("maxFrameBytes")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            conn.max_frame_bytes = limit
        heartbeat = result.get("heartbeatMs")
        self.heartbeat_ms = heartbeat if isinstance(heartbeat, int) else None

        # Replay what a new connection lacks, concurrently: one round trip in all.
        restores: list[Coroutine[Any, Any, Any]] = []
        deadline_ms, loop_deadline = self._deadline(self.hello_timeout)
        if self._registered:
            methods = {"methods": sorted(self._registered)}
            restores.append(self._call(conn, "symphony.register", methods, deadline_ms, loop_deadline))
        for pattern in self._subscriptions.patterns():
            restores.append(self._call(conn, "symphony.subscribe", {"pattern": pattern}, deadline_ms, loop_deadline))
        for outcome in await asyncio.gather(*restores, return_exceptions=True):
            if isinstance(outcome, PeerGone):
                raise outcome
            if isinstance(outcome, BaseException):
                log.warning("symphony peer %s: could not restore state after hello: %r", self.name, outcome)
        if self._ready_sent:
            conn.notify("symphony.ready", self._ready_params)
        conn.ready = True
        self._session_change()

    async def _call(
        self,
        conn: Connection,
        method: str,
        params: Any,
        deadline_ms: int | None,
        loop_deadline: float | None,
        *,
        hello: bool = False,
    ) -> Any:
        """Sends a request on ``conn`` and awaits its answer (see :meth:`request`)."""
        if conn.closed:
            raise PeerGone("connection to the bus lost", {"method": method})
        msg_id = next(self._ids)
        parent = _current.get()
        meta: dict[str, Any] = {"traceparent": child_traceparent(parent.traceparent if parent else None)}
        if deadline_ms is not None:
            meta["deadline"] = deadline_ms
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        message["meta"] = meta
        if hello:
            conn.hello_id = msg_id
        conn.send(message)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = (conn, future)
        try:
            async with asyncio.timeout_at(loop_deadline):
                return await future
        except TimeoutError:
            self._cancel_remote(conn, msg_id, future)
            raise Timeout(f"{method}: no answer before the deadline", {"method": method}) from None
        except asyncio.CancelledError:
            self._cancel_remote(conn, msg_id, future)
            raise
        finally:
            self._pending.pop(msg_id, None)

    @staticmethod
    def _cancel_remote(conn: Connection, msg_id: int, future: asyncio.Future[Any]) -> None:
        """Tells the bus we gave up on ``msg_id``, unless its answer had already arrived."""
        answered = future.done() and not future.cancelled()
        if not answered and not conn.closed:
            conn.notify("$/cancelRequest", {"id": msg_id})

    async def _supervise(self, conn: Connection) -> None:
        """Waits for the connection to end; reconnects (socket) or closes the peer."""
        while True:
            await asyncio.shield(conn.lost)
            if self._closing or not self.reconnect:
                break
            next_conn = await self._reconnect()
            if next_conn is None:
                break
            conn = next_conn
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(
                self._shutdown(), name=f"symphony peer {self.name}: close"
            )

    async def _reconnect(self) -> Connection | None:
        """Retries with backoff until connected; None when closing or refused (Unauthorized)."""
        attempt = 0
        while not self._closing:
            await asyncio.sleep(self.backoff.delay(attempt))
            attempt += 1
            try:
                conn = await self._connect()
            except Unauthorized as exc:
                log.error("symphony peer %s: the bus refused the reconnect: %s", self.name, exc)
                self._fatal = exc
                return None
            except (OSError, BusError) as exc:
                log.info("symphony peer %s: reconnect attempt %d failed: %s", self.name, attempt, exc)
                continue
            except Exception:  # noqa: BLE001 - keep trying: a dead supervisor would never close
                log.exception("symphony peer %s: reconnect attempt %d failed", self.name, attempt)
                continue
            log.info("symphony peer %s: reconnected after %d attempt(s)", self.name, attempt)
            return conn
        return None

    def _connection_lost(self, conn: Connection, exc: BaseException | None) -> None:
        """Called once per connection (by :meth:`Connection.mark_lost`)."""
        if self._conn is conn:
            self._conn = None
        if not self._closing:
            log.info("symphony peer %s: connection to the bus lost%s", self.name, f" ({exc})" if exc else "")
        for owner, future in list(self._pending.values()):
            if owner is conn and not future.done():
                future.set_exception(PeerGone("connection to the bus lost"))
        self._handlers.stop_all(conn)
        self._session_change()

    async def _shutdown(self) -> None:
        self._closing = True
        self._session_change()
        current = asyncio.current_task()
        supervisor = self._supervisor if self._supervisor is not current else None
        if supervisor is not None:
            supervisor.cancel()
        for _, future in list(self._pending.values()):
            if not future.done():
                future.set_exception(PeerGone("peer closed"))
        self._handlers.stop_all()
        for task in self._tasks:
            task.cancel()
        conn = self._conn
        if conn is not None:
            conn.close()  # flushes queued frames first
        waits = [t for t in (*self._tasks, supervisor) if t is not None and t is not current]
        if waits:
            _, stuck = await asyncio.wait(waits, timeout=_CLOSE_GRACE)
            for task in stuck:
                log.warning("symphony peer %s: task %s ignored cancellation", self.name, task.get_name())
        if conn is not None:
            await conn.aclose(_CLOSE_GRACE)
        if self._closed_event is not None:
            self._closed_event.set()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str | None, *, eager: bool = False) -> asyncio.Task[None]:
        """Starts a task the peer tracks (close() cancels and awaits it). ``eager``: its first step
        runs now, and a task already done then is not tracked at all."""
        loop = asyncio.get_running_loop()
        task = eager_task(loop, coro) if eager else loop.create_task(coro, name=name)
        if not task.done():
            if eager and name is not None:
                task.set_name(name)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return task

    # -- internals: incoming messages ----------------------------------------------------------

    def _dispatch(self, conn: Connection, item: Any) -> None:
        if self._closing:
            return  # nothing new may start once the peer is closing
        if isinstance(item, FrameError):
            self._on_frame_error(conn, item)
            return
        if self._malformed_answer(conn, item):
            return
        if not isinstance(item, dict) or item.get("jsonrpc") != "2.0":
            self._invalid(conn, item, None)
            return
        method = item.get("method")
        has_id = "id" in item
        msg_id = item.get("id")
        if method is not None:
            if not isinstance(method, str) or (has_id and not is_id(msg_id)):
                self._invalid(conn, item, msg_id if is_id(msg_id) else None)
            elif not has_id:
                self._on_notification(conn, method, item.get("params"))
            elif method == "symphony.ping":
                conn.send_result(msg_id, {})  # answered here, never queued behind handlers
            else:
                self._handlers.on_request(conn, msg_id, method, item.get("params"), item.get("meta"), self.identity)
        elif has_id and (("result" in item) != ("error" in item)):
            self._on_response(conn, item)
        else:
            self._invalid(conn, item, None)

    def _on_notification(self, conn: Connection, method: str, params: Any) -> None:
        if method == "$/cancelRequest":
            self._handlers.cancel(conn, params.get("id") if isinstance(params, dict) else None)
        elif method == "symphony.event":
            if isinstance(params, dict) and isinstance(params.get("topic"), str):
                self._subscriptions.deliver(params["topic"], params.get("data"))
            else:
                log.warning("symphony peer %s: malformed symphony.event: %.200r", self.name, params)
        elif method == "symphony.error":
            log.warning("symphony peer %s: the bus reported: %.500r", self.name, params)
        elif method.startswith(RESERVED_PREFIXES):
            log.debug("symphony peer %s: ignoring %s", self.name, method)
        else:
            self._handlers.on_notification(method, params)

    def _on_response(self, conn: Connection, message: dict[str, Any]) -> None:
        msg_id = message["id"]
        if msg_id is not None and msg_id == conn.hello_id and "result" in message:
            # Switch before the next frame is decoded: it may already be in the buffer.
            result = message["result"]
            conn.switch_framing(result.get("framing", self.framing) if isinstance(result, dict) else None)
        entry = self._pending.get(msg_id) if is_id(msg_id) else None
        if entry is None or entry[0] is not conn:
            if msg_id is None and "error" in message:
                log.warning("symphony peer %s: the bus could not read a frame: %.500r", self.name, message["error"])
            else:
                # A late answer (the call timed out or was cancelled; the bus answers -32800 then).
                log.debug("symphony peer %s: dropping the answer to %r: nobody waits for it", self.name, msg_id)
            return
        future = entry[1]
        if future.done():
            return
        if "error" in message:
            future.set_exception(error_from_wire(message["error"]))
        else:
            future.set_result(message["result"])

    def _malformed_answer(self, conn: Connection, item: Any) -> bool:
        """An answer to one of our calls that is not a well-formed response (neither or both of
        ``result`` and ``error``, an ``error`` that is no object, a wrong ``jsonrpc``) fails that call
        at once, rather than leave it waiting for its deadline; it is never answered back."""
        if not isinstance(item, dict) or "method" in item or not is_id(item.get("id")):
            return False
        entry = self._pending.get(item["id"])
        if entry is None or entry[0] is not conn:
            return False
        has_result, has_error = "result" in item, "error" in item
        if item.get("jsonrpc") != "2.0":
            wrong = '"jsonrpc" is not "2.0"'
        elif has_result and has_error:
            wrong = 'both "result" and "error"'
        elif not has_result and not has_error:
            wrong = 'neither "result" nor "error"'
        elif has_error and not isinstance(item["error"], dict):
            wrong = '"error" is not an object'
        else:
            return False
        log.warning("symphony peer %s: malformed answer from the bus: %s", self.name, wrong)
        if not entry[1].done():
            entry[1].set_exception(InternalError(f"malformed answer from the bus: {wrong}"))
        return True

    def _on_frame_error(self, conn: Connection, error: FrameError) -> None:
        log.warning("symphony peer %s: bad frame from the bus: %s", self.name, error.message)
        if error.code == MESSAGE_TOO_LARGE and error.id is not None:
            # Ids are per direction: the bus's request 3 is not our call 3. What the frame's head
            # says it is decides; only when it does not say is an id we wait for taken as an answer.
            if error.kind != "request":
                entry = self._pending.get(error.id)
                if entry is not None and entry[0] is conn:
                    # The answer to one of our calls: fail that call only.
                    if not entry[1].done():
                        entry[1].set_exception(MessageTooLarge(error.message, {"size": error.size}))
                    return
                if error.kind == "response":
                    return  # an answer to nothing we wait for: answering it could only confuse
            conn.send_error(error.id, MessageTooLarge(error.message))
        elif error.code == PARSE_ERROR:
            conn.send_error(None, BusError(PARSE_ERROR, error.message))

    def _invalid(self, conn: Connection, item: Any, msg_id: JsonId | None) -> None:
        log.warning("symphony peer %s: not a JSON-RPC message: %.200r", self.name, item)
        if isinstance(item, dict) and ("result" in item or "error" in item):
            return  # a malformed response: answering it could only confuse
        conn.send_error(msg_id, BusError(INVALID_REQUEST, "invalid request: not a JSON-RPC 2.0 message"))


async def connect(
    name: str,
    *,
    path: str | None = None,
    token: str | None = None,
    stdio: bool | None = None,
    framing: Literal["ndjson", "content-length"] = "ndjson",
    reconnect: bool = True,
    backoff: Backoff | None = None,
    hello_timeout: float = 10.0,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    protect_stdout: bool = True,
) -> Peer:
    """Creates a :class:`Peer` and connects it (see the class for the transport and token rules).

    Raises ``Unauthorized`` when the bus refuses the token, ``OSError`` when the socket cannot be
    reached, ``Timeout`` when hello is not answered within ``hello_timeout``.
    """
    peer = Peer(
        name,
        path=path,
        token=token,
        stdio=stdio,
        framing=framing,
        reconnect=reconnect,
        backoff=backoff,
        hello_timeout=hello_timeout,
        max_frame_bytes=max_frame_bytes,
        protect_stdout=protect_stdout,
    )
    return await peer.start()
