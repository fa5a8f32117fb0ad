"""Real processes: the example peer over stdio and over the socket, and stdio edge cases."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from typing import Any

import symphony_peer
from symphony_peer import Timeout

from .fakebus import FakeBus

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(PYTHON_DIR, "examples", "wordcount_peer.py")

# A minimal stdio peer: it also prints to stdout, which must not reach the frame stream.
ECHO_PEER = textwrap.dedent(
    """
    import asyncio, os, symphony_peer

    async def main():
        peer = symphony_peer.Peer("echo", stdio=True, framing=os.environ.get("ECHO_FRAMING", "ndjson"))
        peer.handle("echo", lambda params, ctx: params)
        await peer.start()
        print("a stray print", flush=True)
        await peer.run()

    asyncio.run(main())
    """
)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SYMPHONY_BUS", "SYMPHONY_TOKEN")}
    env["PYTHONPATH"] = PYTHON_DIR
    # Dev mode: asyncio debug checks and ResourceWarnings, which assert_clean_stderr looks for.
    env["PYTHONDEVMODE"] = "1"
    env.update(extra)
    return env


def assert_clean_stderr(test: unittest.TestCase, stderr: str) -> None:
    for symptom in ("ResourceWarning", "Exception ignored", "Task was destroyed", "never retrieved", "Traceback"):
        test.assertNotIn(symptom, stderr)


class StdioBus:
    """The bus side of a stdio connection: the child's stdin and stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin = proc.stdin
        self.stdout = proc.stdout

    def send(self, message: dict[str, Any]) -> None:
        self.stdin.write(json.dumps(message).encode() + b"\n")

    async def read(self, timeout: float = 5.0) -> dict[str, Any]:
        line = await asyncio.wait_for(self.stdout.readline(), timeout)
        if not line:
            raise EOFError("the peer closed stdout")
        return json.loads(line)  # anything but a frame on stdout fails here

    async def answer_next(self, method: str, result: Any) -> dict[str, Any]:
        message = await self.read()
        assert message.get("method") == method, message
        self.send({"jsonrpc": "2.0", "id": message["id"], "result": result})
        return message


class ExampleOverStdio(unittest.IsolatedAsyncioTestCase):
    async def test_wordcount_example_over_stdio(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            EXAMPLE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_env(SYMPHONY_TOKEN="tok-stdio"),
        )
        bus = StdioBus(proc)
        try:
            hello = await bus.answer_next(
                "symphony.hello",
                {"protocol": 1, "peer": "wordcount#1", "framing": "ndjson", "maxFrameBytes": 1 << 20, "heartbeatMs": 5000},
            )
            self.assertEqual(hello["params"], {"protocol": 1, "peer": "wordcount", "token": "tok-stdio"})
            subscribe = await bus.answer_next("symphony.subscribe", {})
            self.assertEqual(subscribe["params"], {"pattern": "text.>"})
            register = await bus.answer_next("symphony.register", {"methods": ["text.slow", "text.wordCount"]})
            self.assertEqual(register["params"], {"methods": ["text.slow", "text.wordCount"]})
            self.assertEqual((await bus.read())["method"], "symphony.ready")

            deadline = int(time.time() * 1000) + 10_000
            bus.send({"jsonrpc": "2.0", "id": 1, "method": "text.wordCount", "params": {"text": "one two  three"}, "meta": {"deadline": deadline}})
            published = await bus.read()
            self.assertEqual(published["method"], "symphony.publish")
            self.assertEqual(published["params"], {"topic": "text.counted", "data": {"words": 3, "chars": 14}})
            self.assertEqual(await bus.read(), {"jsonrpc": "2.0", "id": 1, "result": {"words": 3}})

            bus.send({"jsonrpc": "2.0", "method": "symphony.event", "params": {"topic": "text.counted", "data": {"words": 3}}})
            bus.send({"jsonrpc": "2.0", "id": 2, "method": "text.slow", "params": {"seconds": 30}})
            bus.send({"jsonrpc": "2.0", "id": 3, "method": "symphony.ping"})
            self.assertEqual(await bus.read(), {"jsonrpc": "2.0", "id": 3, "result": {}})  # text.slow is running
            bus.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 2}})
            bus.send({"jsonrpc": "2.0", "id": 5, "method": "symphony.ping"})
            self.assertEqual(await bus.read(), {"jsonrpc": "2.0", "id": 5, "result": {}})  # nothing for id 2
            bus.send({"jsonrpc": "2.0", "id": 4, "method": "text.wordCount", "params": {"text": 5}})
            invalid = await bus.read()
            self.assertEqual((invalid["id"], invalid["error"]["code"]), (4, -32602))

            bus.stdin.close()  # EOF: the kernel is gone, the peer exits
            self.assertEqual(await asyncio.wait_for(proc.wait(), 5), 0)
            self.assertEqual(await proc.stdout.read(), b"")  # type: ignore[union-attr]
            stderr = (await proc.stderr.read()).decode()  # type: ignore[union-attr]
            self.assertIn("text.slow #2 cancelled (ctx.cancelled=True)", stderr)
            self.assertIn("event text.counted", stderr)
            assert_clean_stderr(self, stderr)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    async def test_stdout_carries_frames_only(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            ECHO_PEER,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_env(),
        )
        bus = StdioBus(proc)
        try:
            hello = await bus.answer_next("symphony.hello", {"protocol": 1, "peer": "echo"})
            self.assertNotIn("token", hello["params"])  # none given: the bus decides
            bus.send({"jsonrpc": "2.0", "id": "e1", "method": "echo", "params": ["x"]})
            self.assertEqual(await bus.read(), {"jsonrpc": "2.0", "id": "e1", "result": ["x"]})
            bus.stdin.close()
            self.assertEqual(await asyncio.wait_for(proc.wait(), 5), 0)
            self.assertEqual(await proc.stdout.read(), b"")  # type: ignore[union-attr]
            stderr = (await proc.stderr.read()).decode()  # type: ignore[union-attr]
            self.assertIn("a stray print", stderr)
            assert_clean_stderr(self, stderr)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


    async def test_content_length_over_stdio_switches_right_after_the_hello_response(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            ECHO_PEER,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_env(ECHO_FRAMING="content-length"),
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            hello = json.loads(await asyncio.wait_for(proc.stdout.readline(), 5))  # hello itself: NDJSON
            self.assertEqual(hello["params"]["framing"], "content-length")
            # The hello response (NDJSON) and the next frame (Content-Length) in a single write.
            answer = {"jsonrpc": "2.0", "id": hello["id"], "result": {"protocol": 1, "peer": "echo", "framing": "content-length"}}
            request = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "echo", "params": "ünï"}).encode()
            proc.stdin.write(json.dumps(answer).encode() + b"\n" + b"Content-Length: %d\r\n\r\n" % len(request) + request)
            header = await asyncio.wait_for(proc.stdout.readuntil(b"\r\n\r\n"), 5)
            self.assertTrue(header.startswith(b"Content-Length: "), header)
            body = await proc.stdout.readexactly(int(header.split(b":")[1]))
            self.assertEqual(json.loads(body), {"jsonrpc": "2.0", "id": 7, "result": "ünï"})
            proc.stdin.close()
            self.assertEqual(await asyncio.wait_for(proc.wait(), 5), 0)
            assert_clean_stderr(self, (await proc.stderr.read()).decode())
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


class StdioOnFiles(unittest.TestCase):
    def test_regular_files_as_stdin_and_stdout(self) -> None:
        """A recorded session replayed from a file: no pipes to poll, same protocol."""
        with tempfile.TemporaryDirectory() as tmp:
            inp, out = os.path.join(tmp, "in.ndjson"), os.path.join(tmp, "out.ndjson")
            with open(inp, "w") as fh:
                for message in (
                    {"jsonrpc": "2.0", "id": 1, "result": {"protocol": 1, "peer": "echo"}},
                    {"jsonrpc": "2.0", "id": "r1", "method": "echo", "params": {"a": 1}},
                    {"jsonrpc": "2.0", "id": "p1", "method": "symphony.ping"},
                ):
                    fh.write(json.dumps(message) + "\n")
            with open(inp, "rb") as stdin, open(out, "wb") as stdout:
                done = subprocess.run(
                    [sys.executable, "-c", ECHO_PEER], stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=child_env(), timeout=10
                )
            self.assertEqual(done.returncode, 0, done.stderr.decode())
            assert_clean_stderr(self, done.stderr.decode())
            with open(out, "rb") as fh:
                frames = [json.loads(line) for line in fh]
            self.assertEqual(frames[0]["method"], "symphony.hello")
            self.assertIn({"jsonrpc": "2.0", "id": "r1", "result": {"a": 1}}, frames)
            self.assertIn({"jsonrpc": "2.0", "id": "p1", "result": {}}, frames)


class ExampleOverSocket(unittest.IsolatedAsyncioTestCase):
    async def test_wordcount_example_over_the_socket(self) -> None:
        tmp = tempfile.mkdtemp(prefix="symbus")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "bus.sock")
        bus = FakeBus(path, {"tok-wc": "wordcount", "tok-client": "client"})
        await bus.start()
        self.addAsyncCleanup(bus.close)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            EXAMPLE,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_env(SYMPHONY_BUS=path, SYMPHONY_TOKEN="tok-wc"),
        )
        try:
            await bus.wait_message("symphony.ready", "wordcount", timeout=5)
            client = await symphony_peer.connect("client", path=path, token="tok-client")
            self.addAsyncCleanup(client.close)
            counted: asyncio.Queue[Any] = asyncio.Queue()
            await client.subscribe("text.counted", lambda topic, data: counted.put_nowait(data))
            self.assertEqual(await client.request("text.wordCount", {"text": "the quick brown fox"}), {"words": 4})
            self.assertEqual(await asyncio.wait_for(counted.get(), 2), {"words": 4, "chars": 19})
            with self.assertRaises(Timeout):
                await client.request("text.slow", {"seconds": 30}, timeout=0.3)
            # The example stopped text.slow: either the bus relayed the caller's $/cancelRequest,
            # or the example's own deadline timer (meta.deadline, the same instant) fired first
            # and answered -32003.
            await bus.wait_for(
                lambda: any(m.get("method") == "$/cancelRequest" for c, m in bus.sent if c.identity == "wordcount")
                or any(m.get("error", {}).get("code") == -32003 for m in bus.messages(None, "wordcount"))
            )
        finally:
            if proc.returncode is None:
                proc.terminate()
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 5)
        self.assertEqual(proc.returncode, 0, stderr.decode())
        self.assertEqual(stdout, b"")
        self.assertIn("cancelled", stderr.decode())
        assert_clean_stderr(self, stderr.decode())


if __name__ == "__main__":
    unittest.main()
