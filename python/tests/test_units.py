"""Small pure parts: subjects, error mapping, backoff, trace context."""

from __future__ import annotations

import asyncio
import functools
import random
import time
import unittest
from typing import Any

from symphony_peer import errors
from symphony_peer.backoff import Backoff
from symphony_peer.context import RequestContext, child_traceparent, new_traceparent, parse_traceparent
from symphony_peer.serving import _AWAIT_FREE, _IN_TASK, _PLAIN, _kind
from symphony_peer.subjects import is_pattern, matches, validate_pattern, validate_subject


class Subjects(unittest.TestCase):
    def test_matching(self) -> None:
        cases = [
            ("text.*", "text.counted", True),
            ("text.*", "text.a.b", False),
            ("text.*", "text", False),
            ("text.>", "text.a", True),
            ("text.>", "text.a.b.c", True),
            ("text.>", "text", False),
            ("*.counted", "text.counted", True),
            ("*.*", "a.b", True),
            (">", "a", True),
            (">", "a.b", True),
            ("a.b", "a.b", True),
            ("a.b", "a.c", False),
            ("a.*.c", "a.x.c", True),
            ("a.*.c", "a.x.d", False),
        ]
        for pattern, subject, expected in cases:
            with self.subTest(pattern=pattern, subject=subject):
                self.assertIs(matches(pattern, subject), expected)

    def test_validation(self) -> None:
        for good in ("a", "a.b", "a.*", "a.>", "*", ">", "text.wordCount"):
            validate_pattern(good)
        for bad in ("", "a..b", "a.>.b", "a b", "te*t", ".a", "a."):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                validate_pattern(bad)
        validate_subject("files.changed")
        for bad in ("files.*", "files.>", "", "a..b"):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                validate_subject(bad)
        self.assertTrue(is_pattern("a.*"))
        self.assertFalse(is_pattern("a.b"))


class Errors(unittest.TestCase):
    def test_codes_map_to_classes(self) -> None:
        expected = {
            -32700: errors.ParseError,
            -32600: errors.InvalidRequest,
            -32601: errors.MethodNotFound,
            -32602: errors.InvalidParams,
            -32603: errors.InternalError,
            -32800: errors.Cancelled,
            -32001: errors.Unauthorized,
            -32002: errors.Forbidden,
            -32003: errors.Timeout,
            -32004: errors.PeerGone,
            -32005: errors.Overloaded,
            -32006: errors.MessageTooLarge,
        }
        for code, cls in expected.items():
            err = errors.error_from_wire({"code": code, "message": "m", "data": {"method": "x"}})
            self.assertIs(type(err), cls)
            self.assertEqual((err.code, err.message, err.data), (code, "m", {"method": "x"}))
            self.assertIsInstance(err, errors.BusError)
            self.assertEqual(cls().code, code)

    def test_unknown_and_malformed(self) -> None:
        err = errors.error_from_wire({"code": -32099, "message": "custom"})
        self.assertIs(type(err), errors.BusError)
        self.assertEqual(err.code, -32099)
        self.assertIsInstance(errors.error_from_wire("nope"), errors.InternalError)
        self.assertEqual(errors.BusError(-1, "x", [1]).to_wire(), {"code": -1, "message": "x", "data": [1]})


class Backoffs(unittest.TestCase):
    def test_exponential_capped_and_jittered(self) -> None:
        b = Backoff(initial=0.05, maximum=2.0)
        rng = random.Random(1)
        for attempt in range(20):
            base = min(2.0, 0.05 * 2**attempt)
            delay = b.delay(attempt, rng)
            self.assertGreaterEqual(delay, base * 0.5)
            self.assertLessEqual(delay, base)
        with self.assertRaises(ValueError):
            Backoff(initial=1, maximum=0.5)


class Trace(unittest.TestCase):
    def test_traceparents(self) -> None:
        root = new_traceparent()
        parsed = parse_traceparent(root)
        assert parsed is not None
        child = child_traceparent(root)
        child_parsed = parse_traceparent(child)
        assert child_parsed is not None
        self.assertEqual(child_parsed[0], parsed[0])
        self.assertNotEqual(child_parsed[1], parsed[1])
        self.assertIsNone(parse_traceparent("00-" + "0" * 32 + "-" + "1" * 16 + "-01"))
        self.assertIsNotNone(parse_traceparent(child_traceparent("garbage")))

    def test_remaining(self) -> None:
        ctx = RequestContext("m", 1, deadline=time.time() * 1000 + 2000)
        remaining = ctx.remaining()
        assert remaining is not None
        self.assertTrue(1.5 < remaining <= 2.0)
        self.assertIsNone(RequestContext("m").remaining())
        self.assertEqual(RequestContext("m", deadline=0).remaining(), 0.0)

    def test_context_from_meta_ignores_malformed_members(self) -> None:
        meta = {"peer": "alpha", "deadline": 1234, "traceparent": new_traceparent()}
        ctx = RequestContext.from_meta("m", 7, meta)
        self.assertEqual((ctx.method, ctx.id, ctx.peer, ctx.deadline), ("m", 7, "alpha", 1234.0))
        self.assertEqual((ctx.traceparent, ctx.meta), (meta["traceparent"], meta))
        for bad in ({"peer": 1, "deadline": True, "traceparent": ["x"]}, {"deadline": "soon"}, {"deadline": 10**400}):
            ctx = RequestContext.from_meta("m", 1, bad)
            self.assertEqual((ctx.peer, ctx.deadline, ctx.traceparent), (None, None, None))
        ctx = RequestContext.from_meta("m", None, "not a dict")
        self.assertEqual((ctx.meta, ctx.is_notification), ({}, True))

    def test_context_cancelled_event_is_made_on_first_use(self) -> None:
        ctx = RequestContext("m", 1)
        self.assertFalse(ctx.cancelled.is_set())
        self.assertIs(ctx.cancelled, ctx.cancelled)
        event = asyncio.Event()
        ctx = RequestContext("m", 1, cancelled=event)
        self.assertIs(ctx.cancelled, event)
        self.assertIn("method='m'", repr(ctx))



class HandlerKinds(unittest.TestCase):
    """Which handlers run at once, without a task: those that can never wait."""

    def test_kinds(self) -> None:
        async def await_free(p: Any, c: Any) -> Any:
            return [x for x in p]

        async def awaits(p: Any, c: Any) -> None:
            await asyncio.sleep(0)

        async def async_with(p: Any, c: Any) -> Any:
            async with asyncio.timeout(1):
                return p

        async def async_for(p: Any, c: Any) -> None:
            async for _ in p:
                pass

        async def async_comprehension(p: Any, c: Any) -> Any:
            return [x async for x in p]

        async def defines_a_waiting_function(p: Any, c: Any) -> Any:
            async def inner() -> None:
                await asyncio.sleep(0)

            return inner

        def plain(p: Any, c: Any) -> Any:
            return p

        def generator(p: Any, c: Any) -> Any:
            yield p

        class Service:
            async def method(self, p: Any, c: Any) -> Any:
                return p

            def __call__(self, p: Any, c: Any) -> Any:
                return p

        expected = {
            await_free: _AWAIT_FREE,
            awaits: _IN_TASK,
            async_with: _IN_TASK,
            async_for: _IN_TASK,
            async_comprehension: _IN_TASK,
            defines_a_waiting_function: _AWAIT_FREE,
            plain: _PLAIN,
            generator: _IN_TASK,
            Service().method: _AWAIT_FREE,
            Service(): _IN_TASK,
            functools.partial(plain): _IN_TASK,
        }
        for handler, kind in expected.items():
            self.assertEqual(_kind(handler), kind, handler)


if __name__ == "__main__":
    unittest.main()
