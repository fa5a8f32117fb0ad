"""Byte stream <-> JSON messages: NDJSON by default, LSP ``Content-Length`` framing on request.

The decoder is the part of a peer that touches untrusted bytes, so it is built to be:

* incremental: any chunking of a byte stream decodes to the same items;
* bounded: a frame over ``max_frame_bytes`` is skipped as it streams in (never buffered whole)
  and reported once, with its ``id`` when the head of the frame shows it, and the next frame
  still decodes;
* total: garbage becomes :class:`FrameError` items; nothing raises out of ``feed``/``frames``.

Framing can switch between frames (hello negotiates ``content-length``; the hello response is
still NDJSON): the peer pulls items one at a time with :meth:`FrameDecoder.frames` and calls
:meth:`FrameDecoder.set_framing` as soon as it has the hello response, so bytes already buffered
behind it are read in the new framing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from .errors import MESSAGE_TOO_LARGE, PARSE_ERROR

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "Framing",
    "FrameDecoder",
    "FrameError",
    "encode_frame",
    "encode_payload",
    "frame_payload",
]

Framing = Literal["ndjson", "content-length"]
FRAMINGS: Final = ("ndjson", "content-length")
DEFAULT_MAX_FRAME_BYTES: Final = 1024 * 1024
#: Longest Content-Length header block accepted before it is treated as garbage.
HEADER_LIMIT: Final = 8 * 1024
#: How much of an oversize frame's head is kept to look for its id.
PROBE_BYTES: Final = 512

_CR: Final = 0x0D
#: What ``bytes.strip()`` strips: a line of only these is a blank keep-alive.
_SPACE: Final = b" \t\n\r\x0b\x0c"
_MARKER: Final = b"content-length:"
_MARKER_RE: Final = re.compile(re.escape(_MARKER), re.IGNORECASE)
_HEADER_END: Final = re.compile(rb"\r?\n\r?\n")
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_STRING: Final = rb'"(?:[^"\\]|\\.)*"'
_SCALAR: Final = rb"(?:" + _STRING + rb"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)"
# A top-level "id": only scalar members may precede it, so a nested "id" (inside params) never
# matches; the value must be followed by `,` or `}` so a probe cut mid-value does not match.
_ID_PROBE: Final = re.compile(
    rb"\s*\{(?:\s*" + _STRING + rb"\s*:\s*" + _SCALAR + rb"\s*,)*?\s*\"id\"\s*:\s*(-?\d+|" + _STRING + rb")\s*[,}]"
)


@dataclass(frozen=True, slots=True)
class FrameError:
    """A frame that could not be decoded; the stream stays in sync after it.

    ``code`` is ``-32700`` (not JSON, bad headers) or ``-32006`` (over the size limit);
    ``id`` is the frame's id when it could be read from an oversize frame's head; ``size`` is the
    oversize frame's length in bytes.
    """

    code: int
    message: str
    id: int | str | None = None
    size: int | None = None
    #: For an oversize frame: ``"request"`` or ``"response"`` when its head says (a ``method``
    #: member, or ``result``/``error``, whichever comes first), else None.
    kind: str | None = None


class _Nothing:
    """Marks "no complete frame buffered" (a decoded message may itself be ``None``)."""


_NOTHING: Final = _Nothing()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: One decoder for every frame (``json.loads`` with an argument builds a new one per call).
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)
#: Its scanner: parses one JSON value at an index and returns ``(value, end)``.
_SCAN_ONCE: Final = _DECODER.scan_once


def _parse(data: bytes | bytearray) -> Any:
    """One frame's JSON value, or a :class:`FrameError`."""
    try:
        text = data.decode("utf-8")
        value, end = _SCAN_ONCE(text, 0)
        if end == len(text):
            return value
    except (ValueError, RecursionError, StopIteration):
        pass  # the slow path below says what is wrong
    # Not a bare JSON value (surrounding whitespace) or not JSON at all: json.loads decides.
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return FrameError(PARSE_ERROR, f"parse error: not JSON ({exc})")


_METHOD_KEY: Final = re.compile(rb'"method"\s*:')
_ANSWER_KEY: Final = re.compile(rb'"(?:result|error)"\s*:')


def _probe_kind(head: bytes) -> str | None:
    method = _METHOD_KEY.search(head)
    answer = _ANSWER_KEY.search(head)
    if method is None and answer is None:
        return None
    if answer is None or (method is not None and method.start() < answer.start()):
        return "request"
    return "response"


def _probe_id(head: bytes) -> int | str | None:
    match = _ID_PROBE.match(head)
    if match is None:
        return None
    try:
        value = json.loads(match.group(1).decode("utf-8"))
    except ValueError:
        return None
    return value if isinstance(value, (int, str)) else None


def _content_length(block: bytes) -> int | None:
    """The body length a header block announces, or None when the block is not valid headers."""
    length: int | None = None
    for raw in block.decode("latin-1").split("\n"):
        line = raw.rstrip("\r")
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            return None
        if name.lower() == "content-length":
            value = value.strip()
            if not value.isascii() or not value.isdigit() or (length is not None and int(value) != length):
                return None
            length = int(value)
    return length


class FrameDecoder:
    """Incremental decoder of NDJSON or Content-Length frames.

    ``framing="auto"`` detects the framing from the first bytes (``Content-Length:`` means LSP,
    anything else NDJSON), as the bus does for a new connection.
    """

    def __init__(
        self,
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        framing: Framing | Literal["auto"] = "ndjson",
    ) -> None:
        if framing != "auto" and framing not in FRAMINGS:
            raise ValueError(f"unknown framing {framing!r}")
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")
        self.max_frame_bytes = max_frame_bytes
        self._framing: Framing | None = None if framing == "auto" else framing
        self._buf = bytearray()
        self._off = 0  # start of undecoded bytes in _buf
        self._scan = 0  # NDJSON: no newline in _buf[_off:_scan]
        self._skip_line = False  # NDJSON: discarding an oversize line up to its newline
        self._skip_bytes = 0  # Content-Length: oversize body bytes still to discard
        self._skipped = 0  # size of the oversize frame being discarded
        self._probe = bytearray()  # head of that frame, to find its id
        self._body_len = -1  # Content-Length: body length once the headers are read
        self._resync = False  # Content-Length: discarding garbage up to the next header

    @property
    def framing(self) -> Framing | None:
        """The framing in use (None while ``auto`` has not seen enough bytes to decide)."""
        return self._framing

    @property
    def buffered(self) -> int:
        """Bytes received but not yet decoded (a partial frame)."""
        return len(self._buf) - self._off

    def set_framing(self, framing: Framing) -> None:
        """Decodes every byte not yet consumed in ``framing``; call it between frames."""
        if framing not in FRAMINGS:
            raise ValueError(f"unknown framing {framing!r}")
        if framing != self._framing:
            self._framing = framing
            self._skip_line = False
            self._skip_bytes = 0
            self._body_len = -1
            self._resync = False
            self._scan = self._off

    def push(self, data: bytes) -> None:
        """Appends received bytes; decode them with :meth:`frames`."""
        self._buf += data

    def frames(self) -> Iterator[Any]:
        """Yields each complete item buffered: a parsed JSON value or a :class:`FrameError`.

        Lazy on purpose: the consumer may call :meth:`set_framing` between two items.
        """
        while True:
            try:
                item = self._next()
            except Exception as exc:  # noqa: BLE001 - a decoder bug must not kill the connection
                self._reset()
                yield FrameError(PARSE_ERROR, f"parse error: decoder reset ({exc!r})")
                return
            if item is _NOTHING:
                self._compact()
                return
            yield item

    def feed(self, data: bytes) -> list[Any]:
        """Pushes ``data`` and returns every item now complete (never raises)."""
        self.push(data)
        return list(self.frames())

    # -- internals ---------------------------------------------------------------------------

    def _next(self) -> Any:
        if self._framing is None and not self._detect():
            return _NOTHING
        if self._framing == "ndjson":
            return self._next_ndjson()
        return self._next_content_length()

    def _detect(self) -> bool:
        buf, i = self._buf, self._off
        while i < len(buf) and buf[i] in b" \t\r\n":
            i += 1
        head = bytes(buf[i : i + len(_MARKER)]).lower()
        if len(head) < len(_MARKER) and _MARKER.startswith(head) and buf.find(b"\n", i) < 0:
            return False  # could still become "Content-Length:"
        self._framing = "content-length" if head == _MARKER else "ndjson"
        return True

    def _next_ndjson(self) -> Any:
        buf = self._buf
        limit = self.max_frame_bytes
        while True:
            nl = buf.find(b"\n", max(self._scan, self._off))
            if self._skip_line:
                end = nl if nl >= 0 else len(buf)
                self._add_probe(self._off, end)
                self._skipped += end - self._off
                self._off = self._scan = end
                if nl < 0:
                    return _NOTHING
                self._off = self._scan = nl + 1
                self._skip_line = False
                return self._too_large(self._skipped)
            if nl < 0:
                self._scan = len(buf)
                # More than limit + 1 bytes without a newline: over the limit even if a `\r` ends it.
                if len(buf) - self._off > limit + 1:
                    self._skip_line = True
                    self._skipped = 0
                    self._probe.clear()
                    continue
                return _NOTHING
            start, end = self._off, nl
            self._off = self._scan = nl + 1
            if end > start and buf[end - 1] == _CR:
                end -= 1
            if end - start > limit:
                self._probe.clear()
                self._add_probe(start, end)
                return self._too_large(nl - start)
            if end == start:
                continue  # blank lines are keep-alives
            line = buf[start:end]
            if line[0] in _SPACE and line.isspace():
                continue
            return _parse(line)

    def _next_content_length(self) -> Any:
        buf = self._buf
        while True:
            if self._resync:
                found = _MARKER_RE.search(buf, self._off)
                if found is None:
                    # Keep a tail that may be the start of a marker split across chunks.
                    self._off = max(self._off, len(buf) - (len(_MARKER) - 1))
                    return _NOTHING
                self._off = found.start()
                self._resync = False
            if self._skip_bytes:
                n = min(self._skip_bytes, len(buf) - self._off)
                self._add_probe(self._off, self._off + n)
                self._off += n
                self._skip_bytes -= n
                if self._skip_bytes:
                    return _NOTHING
                return self._too_large(self._skipped)
            if self._body_len < 0:
                off = self._off
                while off < len(buf) and buf[off] in b" \t\r\n":
                    off += 1
                self._off = off
                if off == len(buf):
                    return _NOTHING
                end = _HEADER_END.search(buf, off, off + HEADER_LIMIT)
                if end is None:
                    if len(buf) - off < HEADER_LIMIT:
                        return _NOTHING
                    self._off = off + 1
                    self._resync = True
                    return FrameError(PARSE_ERROR, "parse error: Content-Length headers too long or missing")
                length = _content_length(bytes(buf[off : end.start()]))
                if length is None:
                    head = bytes(buf[off : min(end.start(), off + 80)])
                    self._off = off + 1
                    self._resync = True
                    return FrameError(PARSE_ERROR, f"parse error: bad Content-Length headers {head!r}")
                self._off = end.end()
                if length > self.max_frame_bytes:
                    self._skip_bytes = self._skipped = length
                    self._probe.clear()
                    continue
                self._body_len = length
            if len(buf) - self._off < self._body_len:
                return _NOTHING
            start = self._off
            self._off += self._body_len
            self._body_len = -1
            return _parse(bytes(buf[start : self._off]))

    def _add_probe(self, start: int, end: int) -> None:
        room = PROBE_BYTES - len(self._probe)
        if room > 0:
            self._probe += self._buf[start : min(end, start + room)]

    def _too_large(self, size: int) -> FrameError:
        head = bytes(self._probe)
        self._probe.clear()
        return FrameError(
            MESSAGE_TOO_LARGE,
            f"message too large: {size} bytes, the limit is {self.max_frame_bytes}",
            _probe_id(head),
            size,
            _probe_kind(head),
        )

    def _compact(self) -> None:
        if self._off:
            del self._buf[: self._off]
            self._scan = max(0, self._scan - self._off)
            self._off = 0

    def _reset(self) -> None:
        self._buf.clear()
        self._off = self._scan = 0
        self._skip_line = False
        self._skip_bytes = self._skipped = 0
        self._probe.clear()
        self._body_len = -1
        self._resync = False


def _dumps(message: Any) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _c_encoder() -> Callable[[Any], str] | None:
    """``_dumps`` without building an encoder per call: json's C encoder, made once.

    Made without circular-reference markers (a shared markers dict would be state left behind by
    a failed call and shared between threads): a cycle ends in ``RecursionError`` instead, which
    becomes the ``ValueError`` json raises. None when this Python's json has no C encoder or
    builds it differently, so the check below fails; then ``_dumps`` is used.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        encode = make(
            None, json.JSONEncoder().default, json.encoder.encode_basestring, None, ":", ",", False, False, False
        )

        def dumps(message: Any) -> str:
            try:
                return "".join(encode(message, 0))
            except RecursionError:
                raise ValueError("Circular reference detected (or nested too deep)") from None

        sample = {"a": [1, 2.5, None, True, "é\n\"", {"b": -3}], "c": "\ud800"}
        if dumps(sample) != _dumps(sample):
            return None
    except Exception:  # noqa: BLE001 - any surprise: the plain path
        return None
    return dumps


_fast_dumps: Final = _c_encoder() or _dumps


def encode_payload(message: Any) -> bytes:
    """A message's JSON as UTF-8 (compact; raises ``ValueError``/``TypeError`` if not JSON-able)."""
    try:
        return _fast_dumps(message).encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates cannot be UTF-8: let json escape them instead.
        return json.dumps(message, separators=(",", ":"), allow_nan=False).encode("ascii")


def frame_payload(payload: bytes, framing: Framing) -> bytes:
    """Wraps an encoded payload in ``framing``."""
    if framing == "ndjson":
        return payload + b"\n"
    return b"Content-Length: %d\r\n\r\n" % len(payload) + payload


def encode_frame(message: Any, framing: Framing = "ndjson") -> bytes:
    """One message as the bytes of one frame."""
    return frame_payload(encode_payload(message), framing)
