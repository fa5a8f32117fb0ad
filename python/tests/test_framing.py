"""FrameDecoder: examples, then property-style tests over random chunkings and random garbage."""

from __future__ import annotations

import json
import random
import unittest
from typing import Any

from symphony_peer.errors import MESSAGE_TOO_LARGE, PARSE_ERROR
from symphony_peer.framing import FrameDecoder, FrameError, encode_frame, encode_payload


def chunked(data: bytes, rng: random.Random, max_chunk: int) -> list[bytes]:
    chunks, i = [], 0
    while i < len(data):
        n = rng.randint(1, max_chunk)
        chunks.append(data[i : i + n])
        i += n
    return chunks


def decode_in_chunks(decoder: FrameDecoder, chunks: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return rng.randint(-(10**12), 10**12)
    if kind == 1:
        return "".join(rng.choice("ab \n\t\"\\é€😀{}[]:,") for _ in range(rng.randint(0, 12)))
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return rng.random()
    if kind == 4:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {f"k{i}": random_json(rng, depth + 1) for i in range(rng.randint(0, 4))}


def random_message(rng: random.Random, i: int) -> dict[str, Any]:
    if rng.random() < 0.5:
        return {"jsonrpc": "2.0", "id": i, "method": f"m.{i}", "params": random_json(rng)}
    return {"jsonrpc": "2.0", "id": str(i), "result": random_json(rng)}


class DecoderExamples(unittest.TestCase):
    def test_ndjson_lines_crlf_and_blank_lines(self) -> None:
        d = FrameDecoder()
        self.assertEqual(d.feed(b'{"a":1}\n{"b":2}\r\n\n  \r\n[3]\n'), [{"a": 1}, {"b": 2}, [3]])
        self.assertEqual(d.buffered, 0)

    def test_partial_frames_wait_for_the_rest(self) -> None:
        d = FrameDecoder()
        self.assertEqual(d.feed(b'{"a":'), [])
        self.assertEqual(d.feed(b"1}"), [])
        self.assertEqual(d.feed(b"\n"), [{"a": 1}])

    def test_null_is_a_message_not_the_end(self) -> None:
        self.assertEqual(FrameDecoder().feed(b"null\n1\n"), [None, 1])

    def test_garbage_line_is_a_parse_error_and_the_stream_stays_in_sync(self) -> None:
        out = FrameDecoder().feed(b'not json\n{"ok":true}\n\xff\xfe\n{"x":NaN}\n{"ok":2}\n')
        self.assertEqual([type(o) for o in out], [FrameError, dict, FrameError, FrameError, dict])
        self.assertEqual({o.code for o in out if isinstance(o, FrameError)}, {PARSE_ERROR})
        self.assertEqual(out[-1], {"ok": 2})

    def test_whitespace_around_a_value_and_other_encodings(self) -> None:
        out = FrameDecoder().feed(b'  {"a":1} \t\n\xef\xbb\xbf{"bom":1}\n' + '{"u":16}'.encode("utf-16") + b'\n"\xed\xa0\x80"\n[2]\n')
        self.assertEqual(out[0], {"a": 1})
        # A byte order mark, UTF-16 and an encoded surrogate are not UTF-8 JSON.
        self.assertEqual([type(o) for o in out[1:4]], [FrameError] * 3)
        self.assertEqual(out[4], [2])

    def test_deep_nesting_is_a_parse_error(self) -> None:
        out = FrameDecoder(max_frame_bytes=10**7).feed(b"[" * 200_000 + b"]" * 200_000 + b'\n{"ok":1}\n')
        self.assertIsInstance(out[0], FrameError)
        self.assertEqual(out[1], {"ok": 1})

    def test_oversize_ndjson_frame_is_skipped_with_its_id(self) -> None:
        d = FrameDecoder(max_frame_bytes=100)
        big = encode_frame({"jsonrpc": "2.0", "id": 7, "method": "x", "params": "y" * 500})
        out = d.feed(big + b'{"next":1}\n')
        self.assertEqual(len(out), 2)
        err = out[0]
        assert isinstance(err, FrameError)
        self.assertEqual((err.code, err.id, err.size), (MESSAGE_TOO_LARGE, 7, len(big) - 1))
        self.assertEqual(out[1], {"next": 1})

    def test_oversize_frame_streamed_in_is_never_buffered_whole(self) -> None:
        d = FrameDecoder(max_frame_bytes=1000)
        d.feed(b'{"jsonrpc":"2.0","id":"abc","method":"m","params":"')
        for _ in range(200):
            self.assertEqual(d.feed(b"z" * 997), [])
            self.assertLess(d.buffered, 1000 + 2)
        out = d.feed(b'"}\n{"after":true}\n')
        self.assertEqual([o.id if isinstance(o, FrameError) else o for o in out], ["abc", {"after": True}])

    def test_oversize_id_probe_ignores_nested_ids(self) -> None:
        d = FrameDecoder(max_frame_bytes=50)
        nested = encode_frame({"jsonrpc": "2.0", "method": "m", "params": {"id": 5, "pad": "x" * 100}, "id": 9})
        (err,) = d.feed(nested)
        assert isinstance(err, FrameError)
        self.assertIsNone(err.id)
        (err2,) = d.feed(encode_frame({"jsonrpc": "2.0", "id": "q\"1", "method": "m", "params": "x" * 100}))
        assert isinstance(err2, FrameError)
        self.assertEqual(err2.id, 'q"1')

    def test_content_length_frames(self) -> None:
        d = FrameDecoder(framing="content-length")
        body = json.dumps({"a": [1, 2]}, indent=2).encode()  # newlines inside the body are fine
        data = b"Content-Length: %d\r\nContent-Type: application/json\r\n\r\n" % len(body) + body
        data += b"\r\ncontent-length: 2\r\n\r\n{}"
        self.assertEqual(d.feed(data), [{"a": [1, 2]}, {}])

    def test_content_length_oversize_and_bad_headers_resync(self) -> None:
        d = FrameDecoder(max_frame_bytes=64, framing="content-length")
        big = encode_frame({"jsonrpc": "2.0", "id": 3, "result": "r" * 200}, "content-length")
        bad = b"Content-Length: nope\r\n\r\n{}garbage"
        good = encode_frame({"ok": 1}, "content-length")
        out = d.feed(big + bad + good)
        self.assertEqual(len(out), 3)
        self.assertEqual((out[0].code, out[0].id), (MESSAGE_TOO_LARGE, 3))
        self.assertEqual(out[1].code, PARSE_ERROR)
        self.assertEqual(out[2], {"ok": 1})

    def test_content_length_headers_without_end_are_garbage(self) -> None:
        d = FrameDecoder(framing="content-length")
        out = d.feed(b"x" * 9000 + encode_frame({"ok": 1}, "content-length"))
        self.assertEqual([type(o) for o in out], [FrameError, dict])

    def test_auto_detects_framing_from_the_first_bytes(self) -> None:
        d = FrameDecoder(framing="auto")
        self.assertEqual(d.feed(b"\r\nCont"), [])
        self.assertIsNone(d.framing)
        self.assertEqual(d.feed(b"ent-Length: 2\r\n\r\n{}"), [{}])
        self.assertEqual(d.framing, "content-length")
        n = FrameDecoder(framing="auto")
        self.assertEqual(n.feed(b'{"a":1}\n'), [{"a": 1}])
        self.assertEqual(n.framing, "ndjson")
        short = FrameDecoder(framing="auto")
        (err,) = short.feed(b"Con\n")  # a newline before the marker is complete: NDJSON
        self.assertEqual(short.framing, "ndjson")
        self.assertIsInstance(err, FrameError)

    def test_set_framing_between_frames_rereads_what_is_buffered(self) -> None:
        d = FrameDecoder()
        d.push(b'{"id":1,"result":{"framing":"content-length"}}\n' + encode_frame({"id": 2}, "content-length"))
        items = d.frames()
        self.assertEqual(next(items), {"id": 1, "result": {"framing": "content-length"}})
        d.set_framing("content-length")
        self.assertEqual(list(items), [{"id": 2}])

    def test_encode_round_trip_unicode_and_lone_surrogates(self) -> None:
        for framing in ("ndjson", "content-length"):
            message = {"s": "héllo € 😀 \n \u2028", "lone": "\ud800"}
            (decoded,) = FrameDecoder(framing=framing).feed(encode_frame(message, framing))  # type: ignore[arg-type]
            self.assertEqual(decoded, message)
        with self.assertRaises(ValueError):
            encode_payload({"x": float("nan")})

    def test_encode_failures_are_value_or_type_errors(self) -> None:
        cycle: list[Any] = []
        cycle.append(cycle)
        deep: list[Any] = []
        for _ in range(100_000):
            deep = [deep]
        for bad in (cycle, deep, {"x": float("inf")}):
            with self.assertRaises(ValueError):
                encode_payload(bad)
        for bad in ({"x": object()}, {(1, 2): 3}):
            with self.assertRaises(TypeError):
                encode_payload(bad)
        # A failure leaves nothing behind: the same objects encode once they are JSON.
        cycle.clear()
        self.assertEqual(encode_payload({"a": cycle, "b": [1.5, None, True, "é"]}), '{"a":[],"b":[1.5,null,true,"é"]}'.encode())


class DecoderProperties(unittest.TestCase):
    """Random streams, random chunkings: the decoded items never depend on the chunking."""

    def build_stream(self, rng: random.Random, framing: str, limit: int) -> bytes:
        parts: list[bytes] = []
        for i in range(rng.randint(5, 25)):
            roll = rng.random()
            if roll < 0.1:
                # Over the limit: must be skipped and reported, the next frame intact.
                parts.append(encode_frame({"jsonrpc": "2.0", "id": i, "method": "big", "params": "x" * (limit + rng.randint(1, 3 * limit))}, framing))  # type: ignore[arg-type]
            elif roll < 0.2 and framing == "ndjson":
                parts.append(bytes(rng.choice(b"abc{}[]\":, \t\x00\xff") for _ in range(rng.randint(1, 30))).replace(b"\n", b"") + b"\n")
            elif roll < 0.25:
                parts.append(b"\r\n" if framing == "ndjson" else b"\r\n")
            else:
                parts.append(encode_frame(random_message(rng, i), framing))  # type: ignore[arg-type]
        return b"".join(parts)

    def test_random_chunkings_decode_identically(self) -> None:
        rng = random.Random(20240601)
        for framing in ("ndjson", "content-length"):
            for n in range(50):
                limit = rng.choice([64, 300, 1000])
                stream = self.build_stream(rng, framing, limit)
                reference = FrameDecoder(max_frame_bytes=limit, framing=framing).feed(stream)  # type: ignore[arg-type]
                self.assertTrue(reference)
                for k in range(20):
                    decoder = FrameDecoder(max_frame_bytes=limit, framing=rng.choice([framing, "auto"]))  # type: ignore[arg-type]
                    # Byte by byte once in a while (slow), else random chunk sizes up to a bound.
                    max_chunk = 1 if (n % 5 == 0 and k == 0) else rng.choice([4, 17, 256, 5000])
                    got = decode_in_chunks(decoder, chunked(stream, rng, max_chunk))
                    self.assertEqual(got, reference)
                    self.assertEqual(decoder.buffered, 0)

    def test_every_good_frame_survives_garbage_and_oversize_neighbours(self) -> None:
        rng = random.Random(7)
        for framing in ("ndjson", "content-length"):
            for _ in range(100):
                limit = 200
                good = [random_message(rng, i) for i in range(5)]
                good = [m for m in good if len(encode_payload(m)) <= limit]
                stream = b""
                for message in good:
                    stream += encode_frame({"id": 1, "result": "y" * rng.randint(limit + 1, 4 * limit)}, framing)  # type: ignore[arg-type]
                    stream += encode_frame(message, framing)  # type: ignore[arg-type]
                got = decode_in_chunks(FrameDecoder(max_frame_bytes=limit, framing=framing), chunked(stream, rng, 50))  # type: ignore[arg-type]
                self.assertEqual([g for g in got if not isinstance(g, FrameError)], good)
                self.assertTrue(all(g.code == MESSAGE_TOO_LARGE and g.id == 1 for g in got if isinstance(g, FrameError)))

    def test_random_garbage_never_raises_and_memory_stays_bounded(self) -> None:
        rng = random.Random(99)
        alphabet = [b"\n", b"\r\n", b"{", b"}", b'"', b"Content-Length: ", b"12", b"\r\n\r\n", b"\xff", b"null", b"x" * 40]
        for _ in range(400):
            framing = rng.choice(["ndjson", "content-length", "auto"])
            limit = rng.choice([16, 128, 4096])
            decoder = FrameDecoder(max_frame_bytes=limit, framing=framing)  # type: ignore[arg-type]
            for _ in range(rng.randint(1, 30)):
                if rng.random() < 0.5:
                    chunk = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
                else:
                    chunk = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
                for item in decoder.feed(chunk):
                    if isinstance(item, FrameError):
                        self.assertIn(item.code, (PARSE_ERROR, MESSAGE_TOO_LARGE))
                self.assertLess(decoder.buffered, max(limit, 8 * 1024) + 400)


if __name__ == "__main__":
    unittest.main()
