"""The peer against FakeBus, a test double of the bus over a real Unix socket."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tempfile
import time
import unittest
from typing import Any
from unittest import mock

import symphony_peer
from symphony_peer import (
    Backoff,
    BusError,
    Cancelled,
    Forbidden,
    InternalError,
    InvalidParams,
    MessageTooLarge,
    MethodNotFound,
    Peer,
    PeerGone,
    RequestContext,
    Timeout,
    Unauthorized,
)

from .fakebus import FakeBus

TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01")
FAST = Backoff(initial=0.01, maximum=0.05)
TOKENS = {"tok-a": "alpha", "tok-b": "beta"}


class BusTestCase(unittest.IsolatedAsyncioTestCase):
    bus_options: dict[str, Any] = {}

    async def asyncSetUp(self) -> None:
        # IsolatedAsyncioTestCase runs the loop in debug mode; the test double is not what is
        # being timed, so only really slow steps are worth a warning.
        asyncio.get_running_loop().slow_callback_duration = 1.0
        self.dir = tempfile.mkdtemp(prefix="symbus")
        self.path = os.path.join(self.dir, "bus.sock")
        env = {k: v for k, v in os.environ.items() if k not in ("SYMPHONY_BUS", "SYMPHONY_TOKEN")}
        patcher = mock.patch.dict(os.environ, env, clear=True)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.bus = FakeBus(self.path, dict(TOKENS), **self.bus_options)
        await self.bus.start()
        # Cleanups run last-in first-out: peers close, then the bus, then the leak check.
        self.addAsyncCleanup(self.no_task_left)
        self.addAsyncCleanup(self.bus.close)

    async def no_task_left(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        self.assertEqual(leftovers, [])

    async def peer(self, name: str = "alpha-peer", token: str = "tok-a", **options: Any) -> Peer:
        options.setdefault("backoff", FAST)
        peer = await symphony_peer.connect(name, path=self.path, token=token, **options)
        self.addAsyncCleanup(peer.close)
        return peer


class Session(BusTestCase):
    async def test_hello_identity_comes_from_the_token(self) -> None:
        peer = await self.peer("i-claim-to-be-root")
        self.assertEqual(peer.identity, "alpha")
        self.assertTrue(peer.connected)
        (hello,) = self.bus.messages("symphony.hello")
        self.assertEqual(hello["params"], {"protocol": 1, "peer": "i-claim-to-be-root", "token": "tok-a"})
        self.assertEqual(hello["id"], 1)
        self.assertRegex(hello["meta"]["traceparent"], TRACEPARENT)
        self.assertEqual(self.bus.received[0].message["method"], "symphony.hello")  # hello first
        self.assertEqual(peer.heartbeat_ms, 5000)

    async def test_bad_token_raises_unauthorized_and_the_bus_closes(self) -> None:
        with self.assertRaises(Unauthorized) as caught:
            await symphony_peer.connect("x", path=self.path, token="wrong")
        self.assertEqual(caught.exception.code, -32001)
        await self.bus.wait_for(lambda: self.bus.conns and self.bus.conns[0].closed.done())

    async def test_token_from_the_environment_then_from_the_token_file(self) -> None:
        with mock.patch.dict(os.environ, {"SYMPHONY_BUS": self.path, "SYMPHONY_TOKEN": "tok-b"}):
            peer = await symphony_peer.connect("env")
            self.assertEqual(peer.identity, "beta")
            self.assertEqual(peer.path, self.path)
            await peer.close()
        with open(self.path + ".token", "w") as fh:
            fh.write("tok-a\n")
        peer = await symphony_peer.connect("file", path=self.path)
        self.assertEqual(peer.identity, "alpha")
        await peer.close()

    async def test_socket_unreachable_raises_oserror(self) -> None:
        with self.assertRaises(OSError):
            await symphony_peer.connect("x", path=os.path.join(self.dir, "nothing.sock"), token="tok-a")

    async def test_ping_both_directions(self) -> None:
        peer = await self.peer()
        rtt = await peer.ping()
        self.assertGreaterEqual(rtt, 0.0)
        conn = self.bus.conn("alpha")
        conn.send({"jsonrpc": "2.0", "id": "hb-1", "method": "symphony.ping"})
        await self.bus.wait_for(lambda: any(r.message.get("id") == "hb-1" for r in self.bus.received))
        (answer,) = [r.message for r in self.bus.received if r.message.get("id") == "hb-1"]
        self.assertEqual(answer, {"jsonrpc": "2.0", "id": "hb-1", "result": {}})

    async def test_reads_ask_for_64_kib_not_asyncios_256(self) -> None:
        # 256 KiB read buffers are mmapped and unmapped on every read: slower than a small call.
        peer = await self.peer()
        assert peer._conn is not None and peer._conn.transport is not None
        self.assertEqual(peer._conn.transport._reader.max_size, 64 * 1024)  # type: ignore[union-attr]
        self.assertEqual(await peer.request("symphony.ping"), {})

    async def test_async_with_and_run(self) -> None:
        async with Peer("ctx", path=self.path, token="tok-a") as peer:
            self.assertTrue(peer.connected)
            runner = asyncio.create_task(peer.run())
            await asyncio.sleep(0)
            self.assertFalse(runner.done())
        await asyncio.wait_for(runner, 1)
        self.assertTrue(peer.closed)

    async def test_ready_and_register_forbidden(self) -> None:
        self.bus.provides["alpha"] = {"text.wordCount"}
        peer = await self.peer()
        peer.handle("text.wordCount", lambda params, ctx: {"words": 0})
        peer.handle("text.secret", lambda params, ctx: {})
        with self.assertRaises(Forbidden):
            await peer.register()
        self.assertEqual(await peer.register("text.wordCount"), ["text.wordCount"])
        peer.ready()
        await self.bus.wait_for(lambda: self.bus.conn("alpha").ready)

    async def test_reserved_names_cannot_be_served(self) -> None:
        peer = Peer("x", path=self.path)
        for name in ("symphony.hello", "$/cancelRequest"):
            with self.assertRaises(ValueError):
                peer.handle(name, lambda p, c: None)


class Calls(BusTestCase):
    async def two_peers(self) -> tuple[Peer, Peer]:
        caller = await self.peer("caller", "tok-a")
        server = await self.peer("server", "tok-b")
        return caller, server

    async def test_request_response_both_directions(self) -> None:
        caller, server = await self.two_peers()
        seen: list[RequestContext] = []

        @server.handle("math.add")
        async def add(params: Any, ctx: RequestContext) -> int:
            seen.append(ctx)
            return params["a"] + params["b"]

        server.handle("math.neg", lambda params, ctx: -params)  # a sync handler works too
        await server.register()
        self.assertEqual(await caller.request("math.add", {"a": 2, "b": 3}), 5)
        self.assertEqual(await caller.request("math.neg", 4), -4)
        # The bus (an in-process caller) calls the peer too.
        self.assertEqual(await self.bus.call("math.add", {"a": 1, "b": 1}), 2)
        # And the peer calls an in-process handler of the bus.
        self.bus.handlers["bus.echo"] = lambda params: params
        self.assertEqual(await caller.request("bus.echo", {"x": [1, "two"]}), {"x": [1, "two"]})
        # The callee sees who called, the trace and the deadline.
        ctx = seen[0]
        self.assertEqual((ctx.method, ctx.peer), ("math.add", "alpha"))
        self.assertRegex(ctx.traceparent or "", TRACEPARENT)
        remaining = ctx.remaining()
        assert remaining is not None
        self.assertTrue(25 < remaining <= 30, remaining)

    async def test_request_meta_traceparent_and_deadline(self) -> None:
        caller = await self.peer()
        self.bus.handlers["bus.echo"] = lambda params: params
        before = time.time() * 1000
        await caller.request("bus.echo", None, timeout=5)
        (call,) = self.bus.messages("bus.echo")
        self.assertNotIn("params", call)
        self.assertRegex(call["meta"]["traceparent"], TRACEPARENT)
        self.assertTrue(before + 4900 <= call["meta"]["deadline"] <= time.time() * 1000 + 5000)
        await caller.request("bus.echo", None, timeout=None)
        self.assertNotIn("deadline", self.bus.messages("bus.echo")[1]["meta"])

    async def test_nested_calls_join_the_trace_and_keep_the_deadline(self) -> None:
        caller, server = await self.two_peers()
        self.bus.handlers["bus.echo"] = lambda params: params

        @server.handle("chain.start")
        async def start(params: Any, ctx: RequestContext) -> Any:
            return await server.request("bus.echo", "inner", timeout=60)

        await server.register()
        await caller.request("chain.start", timeout=2)
        outer = self.bus.messages("chain.start")[0]["meta"]
        inner = self.bus.messages("bus.echo")[0]["meta"]
        self.assertEqual(outer["traceparent"][3:35], inner["traceparent"][3:35])
        self.assertNotEqual(outer["traceparent"], inner["traceparent"])
        self.assertLessEqual(inner["deadline"], outer["deadline"])  # 60 s capped by the caller's 2 s

    async def test_handler_errors_become_error_responses(self) -> None:
        caller, server = await self.two_peers()

        @server.handle("fail.crash")
        async def crash(params: Any, ctx: RequestContext) -> None:
            raise ValueError("boom")

        @server.handle("fail.params")
        async def bad_params(params: Any, ctx: RequestContext) -> None:
            raise InvalidParams("text must be a string", {"field": "text"})

        @server.handle("fail.custom")
        async def custom(params: Any, ctx: RequestContext) -> None:
            raise BusError(-32050, "custom failure")

        @server.handle("fail.notjson")
        async def not_json(params: Any, ctx: RequestContext) -> Any:
            return {1, 2}

        # The same, from handlers that wait first (they run in a task, the ones above at once).
        @server.handle("fail.later.crash")
        async def crash_later(params: Any, ctx: RequestContext) -> None:
            await asyncio.sleep(0)
            raise ValueError("boom later")

        @server.handle("fail.later.params")
        async def bad_params_later(params: Any, ctx: RequestContext) -> None:
            await asyncio.sleep(0)
            raise InvalidParams("later")

        await server.register()
        with self.assertLogs("symphony_peer", "ERROR"):
            with self.assertRaises(InternalError) as crashed:
                await caller.request("fail.crash")
        self.assertEqual((crashed.exception.code, crashed.exception.message), (-32603, "boom"))
        with self.assertRaises(InvalidParams) as invalid:
            await caller.request("fail.params")
        self.assertEqual((invalid.exception.code, invalid.exception.data), (-32602, {"field": "text"}))
        with self.assertRaises(BusError) as custom_error:
            await caller.request("fail.custom")
        self.assertEqual(custom_error.exception.code, -32050)
        with self.assertRaises(InternalError):
            await caller.request("fail.notjson")
        with self.assertLogs("symphony_peer", "ERROR"):
            with self.assertRaises(InternalError) as crashed:
                await caller.request("fail.later.crash")
        self.assertEqual(crashed.exception.message, "boom later")
        with self.assertRaises(InvalidParams):
            await caller.request("fail.later.params")
        self.assertEqual(await caller.ping() >= 0, True)  # the session survived all of it

    async def test_a_handler_raising_cancelled_error_unasked_is_answered_at_once(self) -> None:
        caller, server = await self.two_peers()

        def cancelled_future() -> asyncio.Future[None]:
            f: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            f.cancel()
            return f

        @server.handle("self.cancel.now")
        async def now(params: Any, ctx: RequestContext) -> None:
            await cancelled_future()  # runs inline: nothing cancelled it

        @server.handle("self.cancel.later")
        async def later(params: Any, ctx: RequestContext) -> None:
            await asyncio.sleep(0)
            await cancelled_future()  # in its task: the task itself was not cancelled

        await server.register()
        for method in ("self.cancel.now", "self.cancel.later"):
            started = time.monotonic()
            with self.assertRaises(InternalError) as raised:
                await caller.request(method, timeout=10)
            self.assertIn("raised CancelledError without being cancelled", raised.exception.message)
            self.assertLess(time.monotonic() - started, 2.0)  # not the 10 s deadline

    async def test_method_not_found(self) -> None:
        caller = await self.peer()
        with self.assertRaises(MethodNotFound) as caught:
            await caller.request("nobody.serves.this")
        self.assertEqual(caught.exception.data, {"method": "nobody.serves.this"})
        # A request for a method the peer has no handler for, routed to it anyway.
        self.bus.conn("alpha").send({"jsonrpc": "2.0", "id": 99, "method": "not.mine"})
        await self.bus.wait_for(lambda: any(r.message.get("id") == 99 for r in self.bus.received))
        answer = [r.message for r in self.bus.received if r.message.get("id") == 99][0]
        self.assertEqual(answer["error"]["code"], -32601)

    async def test_pattern_methods(self) -> None:
        caller, server = await self.two_peers()
        server.handle("text.*", lambda params, ctx: ctx.method)
        await server.register()
        self.assertEqual(await caller.request("text.upper"), "text.upper")
        self.assertEqual(self.bus.messages("symphony.register", "beta")[0]["params"], {"methods": ["text.*"]})

    async def test_bus_cancel_cancels_the_handler_and_no_answer_follows(self) -> None:
        server = await self.peer("server", "tok-b")
        started = asyncio.Event()
        outcome: list[str] = []

        @server.handle("work.forever")
        async def forever(params: Any, ctx: RequestContext) -> str:
            started.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                outcome.append(f"cancelled, event set: {ctx.cancelled.is_set()}")
                raise
            return "never"

        await server.register()
        forward = self.bus.start_call("work.forever")
        await asyncio.wait_for(started.wait(), 2)
        self.bus.cancel(forward)
        await self.bus.wait_for(lambda: outcome)
        self.assertEqual(outcome, ["cancelled, event set: True"])
        await server.ping()  # anything the handler had sent would have arrived before this answer
        answers = [r.message for r in self.bus.received if r.message.get("id") == forward.bus_id]
        self.assertEqual(answers, [])

    async def test_timeout_raises_and_sends_cancel_request(self) -> None:
        caller = await self.peer()
        # Served in-process by the bus: no callee deadline timer races the caller's own timeout.
        self.bus.handlers["bus.hang"] = lambda params: asyncio.sleep(3600)
        started = time.monotonic()
        with self.assertRaises(Timeout) as caught:
            await caller.request("bus.hang", timeout=0.2)
        self.assertGreaterEqual(time.monotonic() - started, 0.19)
        self.assertEqual(caught.exception.code, -32003)
        request_id = self.bus.messages("bus.hang", "alpha")[0]["id"]
        (cancel,) = await self.bus.wait_message("$/cancelRequest", "alpha")
        self.assertEqual(cancel["params"], {"id": request_id})

    async def test_cancelling_the_awaiting_task_sends_cancel_request(self) -> None:
        caller, server = await self.two_peers()
        started = asyncio.Event()
        stopped = asyncio.Event()

        @server.handle("work.slow")
        async def slow(params: Any, ctx: RequestContext) -> None:
            started.set()
            try:
                await asyncio.sleep(3600)
            finally:
                stopped.set()

        await server.register()
        call = asyncio.create_task(caller.request("work.slow"))
        await asyncio.wait_for(started.wait(), 2)
        call.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await call
        (cancel,) = await self.bus.wait_message("$/cancelRequest", "alpha")
        self.assertEqual(cancel["params"]["id"], self.bus.messages("work.slow", "alpha")[0]["id"])
        await asyncio.wait_for(stopped.wait(), 2)  # the bus relayed it: the serving peer stopped
        # The bus answered -32800 to the cancelled id; the peer drops that late answer quietly.
        await caller.ping()

    async def test_cancelled_code_maps_to_cancelled(self) -> None:
        caller, server = await self.two_peers()
        server.handle("work.slow", lambda p, c: asyncio.sleep(3600))
        await server.register()
        call = asyncio.create_task(caller.request("work.slow"))
        await self.bus.wait_message("work.slow", "alpha")
        forward = self.bus.conn("alpha").outgoing[self.bus.messages("work.slow", "alpha")[0]["id"]]
        self.bus.cancel(forward)  # e.g. the bus cancelled it on the caller's behalf
        with self.assertRaises(Cancelled):
            await call

    async def test_deadline_passing_stops_the_handler_and_answers_timeout(self) -> None:
        server = await self.peer("server", "tok-b")
        cancelled = asyncio.Event()

        @server.handle("work.slow")
        async def slow(params: Any, ctx: RequestContext) -> None:
            try:
                await asyncio.sleep(3600)
            finally:
                cancelled.set()

        await server.register()
        with self.assertRaises(RuntimeError) as caught:
            await self.bus.call("work.slow", meta={"deadline": int(time.time() * 1000) + 150})
        self.assertIn("-32003", str(caught.exception))
        self.assertTrue(cancelled.is_set())

    async def test_staggered_deadlines_each_expire_and_the_others_are_answered(self) -> None:
        server = await self.peer("server", "tok-b")
        cancelled: dict[Any, float] = {}

        @server.handle("work.slow")
        async def slow(params: Any, ctx: RequestContext) -> str:
            try:
                await asyncio.sleep(params)
            except asyncio.CancelledError:
                cancelled[ctx.id] = time.time() * 1000
                raise
            return "done"

        await server.register()
        now = time.time() * 1000
        # Deadlines out of order; the last call's is far away and it finishes first.
        offsets = [300, 100, 200]
        expiring = [self.bus.start_call("work.slow", 3600, meta={"deadline": int(now) + ms}) for ms in offsets]
        self.assertEqual(await self.bus.call("work.slow", 0.05, meta={"deadline": int(now) + 60_000}), "done")
        for forward, ms in zip(expiring, offsets):
            assert forward.future is not None
            with self.assertRaises(RuntimeError) as caught:
                await forward.future
            self.assertIn("-32003", str(caught.exception))
            ended = cancelled[forward.bus_id]
            self.assertGreaterEqual(ended, int(now) + ms - 2)  # never (noticeably) early
            self.assertLess(ended, int(now) + ms + 1000)  # a loaded machine may be late, not forever
        self.assertEqual(server._handlers.running, 0)

    async def test_handler_runs_in_its_own_task_from_its_first_step(self) -> None:
        caller, server = await self.two_peers()
        seen: list[Any] = []

        @server.handle("task.info")
        async def info(params: Any, ctx: RequestContext) -> bool:
            task = asyncio.current_task()
            async with asyncio.timeout(5):  # needs a task, before the handler ever waits
                seen.append((task, symphony_peer.current_context() is ctx))
            return task is not None

        def on_event(topic: str, data: Any) -> None:
            seen.append(("event", symphony_peer.current_context()))

        await server.register()
        await server.subscribe("info.*", on_event)
        self.assertTrue(await caller.request("task.info"))
        self.assertTrue(await caller.request("task.info"))
        caller.publish("info.x")
        await self.bus.wait_for(lambda: len(seen) == 3)
        (first, first_ok), (second, second_ok), event = seen
        self.assertTrue(first_ok and second_ok)
        self.assertIsNot(first, second)
        self.assertEqual(event, ("event", None))  # the handler's context did not leak into the reader's

    async def test_handlers_that_cannot_wait_run_at_once_without_a_task(self) -> None:
        caller, server = await self.two_peers()
        self.bus.handlers["bus.echo"] = lambda params: params
        seen: list[Any] = []

        @server.handle("now.async")
        async def quick(params: Any, ctx: RequestContext) -> Any:
            seen.append((asyncio.current_task(), symphony_peer.current_context() is ctx))
            return params

        def plain(params: Any, ctx: RequestContext) -> Any:
            seen.append((asyncio.current_task(), symphony_peer.current_context() is ctx))
            return params

        server.handle("now.plain", plain)
        # A plain function returning a coroutine: a task awaits it, in the call's trace.
        server.handle("now.forward", lambda params, ctx: server.request("bus.echo", params))

        def on_event(topic: str, data: Any) -> None:
            seen.append(("event", symphony_peer.current_context()))

        await server.register()
        await server.subscribe("now.*", on_event)
        self.assertEqual(await caller.request("now.async", [1]), [1])
        self.assertEqual(await caller.request("now.plain", {"a": 2}), {"a": 2})
        self.assertEqual(await caller.request("now.forward", "fwd", timeout=5), "fwd")
        caller.publish("now.done")
        await self.bus.wait_for(lambda: len(seen) == 3)
        self.assertEqual(seen, [(None, True), (None, True), ("event", None)])
        outer = self.bus.messages("now.forward")[0]["meta"]
        inner = self.bus.messages("bus.echo")[0]["meta"]
        self.assertEqual(outer["traceparent"][3:35], inner["traceparent"][3:35])
        self.assertLessEqual(inner["deadline"], outer["deadline"])
        self.assertEqual(server._handlers.running, 0)

    async def test_pipelined_requests_are_batched_into_few_writes(self) -> None:
        caller = await self.peer()
        self.bus.handlers["bus.echo"] = lambda params: params
        conn = caller._conn
        assert conn is not None and conn.transport is not None
        writes: list[int] = []
        original = conn.transport.write

        def counting_write(data: bytes) -> None:
            writes.append(len(data))
            original(data)

        conn.transport.write = counting_write  # type: ignore[method-assign]
        results = await asyncio.gather(*(caller.request("bus.echo", i) for i in range(500)))
        self.assertEqual(results, list(range(500)))
        self.assertLessEqual(len(writes), 5, writes)

    async def test_outgoing_frame_over_the_bus_limit_fails_locally(self) -> None:
        self.bus.max_frame_bytes = 1000
        caller = await self.peer()
        with self.assertRaises(MessageTooLarge):
            await caller.request("bus.echo", "x" * 2000)
        with self.assertRaises(MessageTooLarge):
            caller.publish("big.topic", "x" * 2000)
        self.assertEqual(self.bus.messages("bus.echo"), [])

    async def test_incoming_oversize_answer_fails_only_its_request(self) -> None:
        caller = await self.peer(max_frame_bytes=4096)
        self.bus.handlers["bus.big"] = lambda params: "y" * 10_000
        self.bus.handlers["bus.echo"] = lambda params: params
        with self.assertLogs("symphony_peer", "WARNING"):
            with self.assertRaises(MessageTooLarge):
                await caller.request("bus.big")
        self.assertEqual(await caller.request("bus.echo", "still in sync"), "still in sync")

    async def test_an_oversize_request_from_the_bus_is_answered_even_with_an_id_we_wait_on(self) -> None:
        caller = await self.peer(max_frame_bytes=4096)
        release = asyncio.Event()

        async def slow(params: Any) -> str:
            await release.wait()
            return "slow done"

        self.bus.handlers["bus.slow"] = slow
        pending = asyncio.ensure_future(caller.request("bus.slow"))
        [call] = await self.bus.wait_message("bus.slow")
        ours = call["id"]
        # Ids are per direction: the bus's request with the same id is not the answer to ours.
        big = json.dumps({"jsonrpc": "2.0", "id": ours, "method": "alpha.echo", "params": "y" * 10_000}).encode() + b"\n"
        with self.assertLogs("symphony_peer", "WARNING"):
            self.bus.conn("alpha").send_raw(big)
            await self.bus.wait_for(lambda: [r for r in self.bus.received if r.message.get("id") == ours and "error" in r.message])
        [answer] = [r.message for r in self.bus.received if r.message.get("id") == ours and "error" in r.message]
        self.assertEqual(answer["error"]["code"], -32006)
        release.set()
        self.assertEqual(await pending, "slow done")  # our own call was not failed in its place

    async def test_garbage_from_the_bus_is_answered_not_fatal(self) -> None:
        caller = await self.peer()
        self.bus.handlers["bus.echo"] = lambda params: params
        with self.assertLogs("symphony_peer", "WARNING"):
            self.bus.conn("alpha").send_raw(b"this is not json\n[1,2]\n")
            await self.bus.wait_for(lambda: len([r for r in self.bus.received if r.message.get("id", 0) is None]) >= 2)
        codes = sorted(r.message["error"]["code"] for r in self.bus.received if "error" in r.message)
        self.assertEqual(codes, [-32700, -32600])
        self.assertEqual(await caller.request("bus.echo", 1), 1)


    async def test_a_malformed_answer_fails_its_call_at_once_and_is_not_answered(self) -> None:
        caller = await self.peer()
        release = asyncio.Event()

        async def slow(params: Any) -> str:
            await release.wait()
            return "late"

        self.bus.handlers["bus.slow"] = slow
        for malformed in ({"jsonrpc": "2.0"}, {"jsonrpc": "2.0", "result": 1, "error": {"code": 1, "message": "m"}}, {"jsonrpc": "1.0", "result": 1}, {"jsonrpc": "2.0", "error": "no object"}):
            pending = asyncio.ensure_future(caller.request("bus.slow", timeout=20))
            [call] = await self.bus.wait_message("bus.slow", count=1)
            self.bus.received.remove(next(r for r in self.bus.received if r.message is call))
            sent_before = len(self.bus.received)
            with self.assertLogs("symphony_peer", "WARNING"):
                self.bus.conn("alpha").send_raw(json.dumps({**malformed, "id": call["id"]}).encode() + b"\n")
                with self.assertRaises(InternalError) as caught:
                    await asyncio.wait_for(pending, 2)
            self.assertIn("malformed answer", str(caught.exception))
            await asyncio.sleep(0.05)
            # Nothing was sent back about it (an answer is never answered).
            self.assertEqual([r.message for r in self.bus.received[sent_before:] if "error" in r.message], [])
        release.set()


class PubSub(BusTestCase):
    async def test_wildcard_subscriptions_dispatch_locally(self) -> None:
        sub = await self.peer("sub", "tok-a")
        pub = await self.peer("pub", "tok-b")
        one: list[tuple[str, Any]] = []
        rest: list[tuple[str, Any]] = []
        other: list[tuple[str, Any]] = []
        got_rest = asyncio.Event()

        async def on_rest(topic: str, data: Any) -> None:
            rest.append((topic, data))
            got_rest.set()

        await sub.subscribe("text.*", lambda topic, data: one.append((topic, data)))
        await sub.subscribe("text.>", on_rest)
        await sub.subscribe("other.x", lambda topic, data: other.append((topic, data)))
        pub.publish("text.counted", {"words": 3})
        pub.publish("text.deep.topic", [1])
        await self.bus.wait_for(lambda: len(rest) == 2)
        self.assertEqual(one, [("text.counted", {"words": 3})])
        self.assertEqual(sorted(rest), [("text.counted", {"words": 3}), ("text.deep.topic", [1])])
        self.assertEqual(other, [])
        self.assertEqual(len(self.bus.messages("symphony.subscribe", "alpha")), 3)

        await sub.unsubscribe("text.>")
        pub.publish("text.deep.again", None)
        pub.publish("text.again", None)
        await self.bus.wait_for(lambda: len(one) == 2)
        self.assertEqual(len(rest), 2)
        self.assertEqual(self.bus.messages("symphony.unsubscribe", "alpha")[0]["params"], {"pattern": "text.>"})

    async def test_one_bus_subscription_per_pattern_and_failing_callbacks_are_isolated(self) -> None:
        sub = await self.peer()
        seen: list[str] = []

        def broken(topic: str, data: Any) -> None:
            raise RuntimeError("subscriber bug")

        await sub.subscribe("a.*", broken)
        await sub.subscribe("a.*", lambda topic, data: seen.append(topic))
        self.assertEqual(len(self.bus.messages("symphony.subscribe")), 1)
        with self.assertLogs("symphony_peer", "ERROR"):
            self.bus.publish("a.b", 1)
            await self.bus.wait_for(lambda: seen)
        self.assertEqual(seen, ["a.b"])
        await sub.unsubscribe("a.*", broken)
        self.assertEqual(self.bus.messages("symphony.unsubscribe"), [])  # one callback left

    async def test_notifications_reach_handlers(self) -> None:
        peer = await self.peer()
        got = asyncio.Event()
        received: list[Any] = []

        @peer.handle("log.line")
        async def line(params: Any, ctx: RequestContext) -> None:
            received.append((params, ctx.id))
            got.set()

        self.bus.conn("alpha").send({"jsonrpc": "2.0", "method": "log.line", "params": "hello"})
        await asyncio.wait_for(got.wait(), 2)
        self.assertEqual(received, [("hello", None)])
        peer.notify("some.notification", {"x": 1})
        (note,) = await self.bus.wait_message("some.notification")
        self.assertEqual(note, {"jsonrpc": "2.0", "method": "some.notification", "params": {"x": 1}})


class Reconnect(BusTestCase):
    async def test_reconnects_and_restores_registrations_subscriptions_and_ready(self) -> None:
        caller = await self.peer("caller", "tok-a")
        server = await self.peer("server", "tok-b")
        server.handle("math.add", lambda params, ctx: params["a"] + params["b"])
        events: list[str] = []
        await server.register()
        await server.subscribe("news.>", lambda topic, data: events.append(topic))
        server.ready()
        self.bus.handlers["bus.hang"] = lambda params: asyncio.sleep(3600)
        hanging = asyncio.create_task(server.request("bus.hang"))
        await self.bus.wait_message("bus.hang", "beta")

        self.bus.drop("beta")
        with self.assertRaises(PeerGone):
            await hanging
        await self.bus.wait_message("symphony.hello", "beta", count=2)
        await self.bus.wait_for(lambda: server.connected)
        registers = self.bus.messages("symphony.register", "beta")
        self.assertEqual(registers[-1]["params"], {"methods": ["math.add"]})
        self.assertEqual(self.bus.messages("symphony.subscribe", "beta")[-1]["params"], {"pattern": "news.>"})
        await self.bus.wait_message("symphony.ready", "beta", count=2)
        self.assertEqual(await caller.request("math.add", {"a": 20, "b": 22}), 42)
        self.bus.publish("news.today", 1)
        await self.bus.wait_for(lambda: events)

    async def test_requests_made_while_disconnected_wait_for_the_reconnect(self) -> None:
        peer = await self.peer(backoff=Backoff(initial=0.4, maximum=0.4, jitter=0.0))
        self.bus.handlers["bus.echo"] = lambda params: params
        self.bus.drop()
        await self.bus.wait_for(lambda: not peer.connected)
        with self.assertRaises(PeerGone):
            peer.publish("x.y", 1)  # notifications cannot wait: they fail at once
        started = time.monotonic()
        self.assertEqual(await peer.request("bus.echo", "after", timeout=3), "after")
        self.assertGreater(time.monotonic() - started, 0.2)  # it waited for the reconnect

    async def test_reconnect_refused_closes_the_peer_and_run_raises(self) -> None:
        peer = await self.peer()
        runner = asyncio.create_task(peer.run())
        del self.bus.tokens["tok-a"]  # the bus restarted with other tokens
        with self.assertLogs("symphony_peer", "ERROR"):
            self.bus.drop()
            with self.assertRaises(Unauthorized):
                await asyncio.wait_for(runner, 3)
        self.assertTrue(peer.closed)

    async def test_without_reconnect_a_drop_closes_the_peer(self) -> None:
        peer = await self.peer(reconnect=False)
        self.bus.drop()
        await asyncio.wait_for(peer.wait_closed(), 2)
        self.assertTrue(peer.closed)
        with self.assertRaises(PeerGone):
            await peer.request("x")

    async def test_close_cancels_handlers_callbacks_and_pending_requests(self) -> None:
        peer = await self.peer()
        started = asyncio.Event()
        handler_cancelled = asyncio.Event()

        @peer.handle("work.forever")
        async def forever(params: Any, ctx: RequestContext) -> None:
            started.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                handler_cancelled.set()
                raise

        async def slow_callback(topic: str, data: Any) -> None:
            await asyncio.sleep(3600)

        await peer.register()
        await peer.subscribe("t.*", slow_callback)
        self.bus.start_call("work.forever")
        self.bus.publish("t.x", None)
        self.bus.handlers["bus.hang"] = lambda params: asyncio.sleep(3600)
        pending = asyncio.create_task(peer.request("bus.hang"))
        await asyncio.wait_for(started.wait(), 2)
        await self.bus.wait_message("bus.hang")
        await peer.close()
        self.assertTrue(handler_cancelled.is_set())
        with self.assertRaises(PeerGone):
            await pending
        self.assertEqual(peer._tasks, set())
        await peer.close()  # idempotent
        await peer.wait_closed()


    async def test_close_does_not_hang_on_a_bus_that_stopped_reading(self) -> None:
        peer = await self.peer()
        self.bus.conn("alpha").writer.transport.pause_reading()  # type: ignore[attr-defined]
        for _ in range(8):
            peer.publish("bulk.data", "x" * 500_000)  # far more than the socket buffers hold
        await asyncio.sleep(0.05)
        conn = peer._conn
        assert conn is not None and conn.transport is not None
        self.assertGreater(conn.transport.write_buffer_size(), 1_000_000)
        started = time.monotonic()
        with mock.patch("symphony_peer.peer._CLOSE_GRACE", 0.2):
            await peer.close()
        self.assertLess(time.monotonic() - started, 1.0)


class ContentLength(BusTestCase):
    async def test_content_length_negotiated_in_hello(self) -> None:
        caller = await self.peer("caller", "tok-a", framing="content-length")
        server = await self.peer("server", "tok-b", framing="content-length")
        server.handle("text.len", lambda params, ctx: len(params))
        await server.register()
        self.assertEqual(await caller.request("text.len", "héllo\nworld"), 11)
        await caller.subscribe("t.>", lambda topic, data: None)
        framings = [(r.message.get("method"), r.framing) for r in self.bus.received if r.conn.identity == "alpha"]
        self.assertEqual(framings[0], ("symphony.hello", "ndjson"))
        self.assertTrue(all(framing == "content-length" for _, framing in framings[1:]), framings)
        self.assertGreater(len(framings), 2)


if __name__ == "__main__":
    unittest.main()
