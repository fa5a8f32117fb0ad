"""The peer library and symphony_conductor against the real kernel (``symphony up``), over both
transports: the kernel spawns the example peer and the conductor as ``command:`` components
(stdio), and the tests join its Unix socket with the operator token.

FakeBus (fakebus.py) stays for what only a misbehaving bus can show; everything here is routed
by the kernel's own bus.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import unittest
from typing import Any

from symphony_peer import Backoff, InvalidParams, MethodNotFound, Peer, PeerGone, Timeout, Unauthorized

from .realkernel import EXAMPLE, PYTHON_DIR, Kernel, require_kernel

COMPONENTS = (
    f"  wordcount: {{ command: [{sys.executable}, {EXAMPLE}], needs: [bus] }}\n"
    f"  conductor: {{ command: [{sys.executable}, -m, symphony_conductor], needs: [bus] }}\n"
)


class RealKernel(unittest.IsolatedAsyncioTestCase):
    kernel: Kernel

    @classmethod
    def setUpClass(cls) -> None:
        require_kernel(cls)
        cls.kernel = Kernel(COMPONENTS).start()

    @classmethod
    def tearDownClass(cls) -> None:
        output = cls.kernel.output()
        code = cls.kernel.stop()
        cls.kernel.remove()
        # A clean stop of everything the kernel spawned, the Python peers included.
        if code != 0:
            raise AssertionError(f"the kernel exited with {code} on SIGTERM:\n{output}")

    async def peer(self, name: str, **options: Any) -> Peer:
        p = Peer(name, path=self.kernel.socket, token=options.pop("token", self.kernel.token), **options)
        await p.start()
        self.addAsyncCleanup(p.close)
        return p

    async def test_calls_a_stdio_peer_the_kernel_spawned(self) -> None:
        client = await self.peer("client")
        # The operator's token lets a tool take any name.
        self.assertEqual(client.identity, "client")
        self.assertEqual(await client.request("text.wordCount", {"text": "one two three"}, timeout=5), {"words": 3})

    async def test_its_errors_cross_the_kernel_with_their_code_and_message(self) -> None:
        client = await self.peer("client")
        with self.assertRaises(InvalidParams) as caught:
            await client.request("text.wordCount", {"text": 42}, timeout=5)
        self.assertEqual(caught.exception.code, -32602)
        self.assertIn("params.text must be a string", caught.exception.message)
        with self.assertRaises(MethodNotFound) as missing:
            await client.request("text.nobodyServesThis", {}, timeout=5)
        self.assertEqual(missing.exception.code, -32601)
        self.assertIn("text.nobodyServesThis", missing.exception.message)

    async def test_events_published_by_a_spawned_peer_reach_a_socket_subscriber(self) -> None:
        client = await self.peer("listener")
        got: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        await client.subscribe("text.counted", lambda topic, data: got.put_nowait((topic, data)))
        await client.request("text.wordCount", {"text": "a bb ccc"}, timeout=5)
        topic, data = await asyncio.wait_for(got.get(), 5)
        self.assertEqual((topic, data), ("text.counted", {"words": 3, "chars": 8}))

    async def test_two_socket_peers_serve_and_call_each_other_through_the_kernel(self) -> None:
        server = await self.peer("server")
        seen: list[Any] = []

        @server.handle("py.echo")
        async def echo(params: Any, ctx: Any) -> Any:
            seen.append((ctx.method, ctx.remaining() is not None, ctx.traceparent is not None))
            return {"echo": params}

        await server.register("py.echo")
        client = await self.peer("client")
        self.assertEqual(await client.request("py.echo", [1, "two", None], timeout=5), {"echo": [1, "two", None]})
        self.assertEqual(seen, [("py.echo", True, True)])

    async def test_content_length_framing_end_to_end(self) -> None:
        client = await self.peer("lsp", framing="content-length")
        self.assertEqual(await client.request("text.wordCount", {"text": "x y"}, timeout=5), {"words": 2})
        self.assertGreater(await client.ping(), 0)

    async def test_a_deadline_ends_the_call_at_its_timeout_not_at_the_handler_end(self) -> None:
        client = await self.peer("impatient")
        t0 = time.monotonic()
        with self.assertRaises(Timeout):
            await client.request("text.slow", {"seconds": 10}, timeout=0.5)
        elapsed = time.monotonic() - t0
        # A broken deadline would wait out the 10 s sleep.
        self.assertLess(elapsed, 5.0)
        self.assertGreaterEqual(elapsed, 0.45)
        # The spawned peer is still serving afterwards.
        self.assertEqual(await client.request("text.wordCount", {"text": "still here"}, timeout=5), {"words": 2})

    async def test_a_callee_killed_mid_call_fails_its_callers_at_once(self) -> None:
        # The callee is its own process, SIGKILLed: nothing of it can answer, only the kernel
        # noticing the dropped connection can fail the call.
        script = (
            "import asyncio, sys, symphony_peer\n"
            "async def main():\n"
            "    p = symphony_peer.Peer('victim', path=sys.argv[1], token=sys.argv[2], reconnect=False)\n"
            "    async def hang(params, ctx):\n"
            "        print('called', flush=True)\n"
            "        await asyncio.sleep(60)\n"
            "    p.handle('py.hang', hang)\n"
            "    async with p:\n"
            "        await p.register('py.hang')\n"
            "        print('registered', flush=True)\n"
            "        await p.run()\n"
            "asyncio.run(main())\n"
        )
        env = {**os.environ, "PYTHONPATH": PYTHON_DIR}
        victim = await asyncio.create_subprocess_exec(sys.executable, "-c", script, self.kernel.socket, self.kernel.token, stdout=asyncio.subprocess.PIPE, env=env)
        self.addAsyncCleanup(victim.wait)
        self.addCleanup(lambda: victim.returncode is None and victim.kill())
        assert victim.stdout is not None
        self.assertEqual(await asyncio.wait_for(victim.stdout.readline(), 10), b"registered\n")
        client = await self.peer("caller")
        call = asyncio.ensure_future(client.request("py.hang", {}, timeout=30))
        self.assertEqual(await asyncio.wait_for(victim.stdout.readline(), 10), b"called\n")
        t0 = time.monotonic()
        victim.kill()
        with self.assertRaises(PeerGone) as caught:
            await call
        # Told by the kernel when the callee's connection dropped, not at the 30 s deadline.
        self.assertLess(time.monotonic() - t0, 5.0)
        self.assertIn("py.hang", str(caught.exception))

    async def test_a_wrong_token_is_refused(self) -> None:
        p = Peer("intruder", path=self.kernel.socket, token="not-the-token", reconnect=False)
        with self.assertRaises(Unauthorized) as caught:
            await p.start()
        self.assertEqual(caught.exception.code, -32001)
        await p.close()

    async def test_the_python_conductor_decides_over_the_bus(self) -> None:
        client = await self.peer("melody-engine")
        before = await client.request("conductor.status", {}, timeout=5)
        self.assertEqual((before["status"], before["policy"]), ("Running", "python"))
        self.assertIsInstance(before["pid"], int)
        self.assertNotEqual(before["pid"], os.getpid())
        question = {"kind": "provider", "melody": "m", "run": "r", "step": "s", "candidates": ["a", "b"], "served": ["a", "b"], "latencyMs": {"a": 3.0, "b": 1.25}}
        answer = await client.request("conductor.decide", question, timeout=5)
        self.assertEqual(answer, {"choice": "b", "rationale": "'b' has the lowest observed latency (1.25ms)", "by": "python-conductor"})
        budget = await client.request("conductor.decide", {"kind": "budget", "cost": 2.5, "spent": 3, "budget": 5}, timeout=5)
        self.assertEqual(budget["choice"], "refuse")
        self.assertEqual(await client.request("conductor.report", {"events": [{"extension": "x", "type": "y"}] * 3}, timeout=5), {"received": 3})
        after = await client.request("conductor.status", {}, timeout=5)
        self.assertEqual(after["decisions"] - before["decisions"], 2)
        self.assertEqual(after["events"] - before["events"], 3)

    async def test_the_conductor_refuses_a_question_it_cannot_read_and_keeps_serving(self) -> None:
        client = await self.peer("confused")
        for bad, text in ((["a list"], "needs a question object"), ({"kind": "weather"}, "unknown question kind 'weather'"), ({"kind": "budget"}, "conductor.decide")):
            with self.subTest(question=bad):
                with self.assertRaises(InvalidParams) as caught:
                    await client.request("conductor.decide", bad, timeout=5)
                self.assertIn(text, caught.exception.message)
        self.assertEqual((await client.request("conductor.status", {}, timeout=5))["status"], "Running")


class Restart(unittest.IsolatedAsyncioTestCase):
    """A socket peer outlives a kernel restart: it reconnects, re-reads the new token, re-registers."""

    async def test_reconnects_and_serves_again_after_the_kernel_restarts(self) -> None:
        require_kernel(self)
        # Started and stopped off the loop: the peer keeps running (and reconnecting) meanwhile.
        first = await asyncio.to_thread(Kernel("").start)
        self.addCleanup(first.remove)
        server = Peer("survivor", path=first.socket, backoff=Backoff(initial=0.05, maximum=0.2))
        server.handle("py.alive", lambda params, ctx: {"alive": True})
        await server.start()
        self.addAsyncCleanup(server.close)
        await server.register("py.alive")
        old_token = first.token
        self.assertEqual(await asyncio.to_thread(first.stop), 0)

        second = await asyncio.to_thread(Kernel("", folder=first.dir).start)
        self.addCleanup(second.stop)
        self.assertNotEqual(second.token, old_token)
        client = Peer("client", path=second.socket, token=second.token)
        await client.start()
        self.addAsyncCleanup(client.close)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.assertEqual(await client.request("py.alive", {}, timeout=2), {"alive": True})
                break
            except MethodNotFound:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the peer did not re-register within 10 s:\n{second.output()}")
                await asyncio.sleep(0.1)
        # The kernel forwards the call as soon as it has the registration; the peer marks its session
        # ready when its own coroutine resumes, a moment later on the same loop.
        settle = time.monotonic() + 2
        while not server.connected and time.monotonic() < settle:
            await asyncio.sleep(0.01)
        self.assertTrue(server.connected)


class ConductorUp(unittest.TestCase):
    """``python3 -m symphony_conductor up``: the kernel as its child, signals and exit code passed through."""

    def setUp(self) -> None:
        require_kernel(self)
        self.kernel = Kernel(f"  conductor: {{ command: [{sys.executable}, -m, symphony_conductor], needs: [bus] }}\n")
        self.addCleanup(self.kernel.remove)

    def run_up(self, *args: str) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("SYMPHONY_BUS", "SYMPHONY_TOKEN", "SYMPHONY_TRANSPORT")}
        env["PYTHONPATH"] = PYTHON_DIR
        return subprocess.Popen(
            [sys.executable, "-m", "symphony_conductor", "up", "-c", self.kernel.config, "--log", "plain", "--data", os.path.join(self.kernel.dir, "data"), *args],
            cwd=self.kernel.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )

    def test_up_once_boots_the_system_with_the_python_conductor_and_exits_0(self) -> None:
        p = self.run_up("--once")
        out, _ = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("the Python Conductor is ready as conductor", out)
        self.assertIn("system ready", out)

    def test_sigterm_reaches_the_kernel_which_stops_the_conductor(self) -> None:
        p = self.run_up()
        assert p.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        for line in p.stdout:
            lines.append(line)
            if "system ready" in line or time.monotonic() > deadline:
                break
        self.assertIn("system ready", "".join(lines))
        conductor_pid = self.conductor_pid()
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
        # The kernel stopped in order and exited 0; its exit code is this process's.
        self.assertEqual(p.returncode, 0, "".join(lines) + out)
        self.assertIn("conductor", out)
        with self.assertRaises(ProcessLookupError):
            os.kill(conductor_pid, 0)

    def conductor_pid(self) -> int:
        async def ask() -> int:
            client = Peer("probe", path=self.kernel.socket, token=self.kernel.token)
            async with client:
                return int((await client.request("conductor.status", {}, timeout=5))["pid"])

        return asyncio.run(ask())


if __name__ == "__main__":
    unittest.main()
