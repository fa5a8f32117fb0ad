"""Typed errors for the bus's JSON-RPC error codes (docs/protocol.md, "Errors").

Every failed request raises a :class:`BusError` whose ``code`` is the wire code, so callers can
catch broadly (``except BusError``) or precisely (``except MethodNotFound``). Handlers raise the
same classes to choose the code of their error response.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "PARSE_ERROR",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "INVALID_PARAMS",
    "INTERNAL_ERROR",
    "REQUEST_CANCELLED",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "TIMEOUT",
    "PEER_GONE",
    "OVERLOADED",
    "MESSAGE_TOO_LARGE",
    "BusError",
    "ParseError",
    "InvalidRequest",
    "MethodNotFound",
    "InvalidParams",
    "InternalError",
    "Cancelled",
    "Unauthorized",
    "Forbidden",
    "Timeout",
    "PeerGone",
    "Overloaded",
    "MessageTooLarge",
    "error_from_code",
    "error_from_wire",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
REQUEST_CANCELLED = -32800
UNAUTHORIZED = -32001
FORBIDDEN = -32002
TIMEOUT = -32003
PEER_GONE = -32004
OVERLOADED = -32005
MESSAGE_TOO_LARGE = -32006


class BusError(Exception):
    """A JSON-RPC error: ``code``, ``message`` and optional ``data`` (often ``{method, peer}``).

    Instantiate it directly for codes without a subclass; ``error_from_code`` picks the subclass
    when there is one.
    """

    code: int = INTERNAL_ERROR
    default_message: str = "error"

    def __init__(self, code: int | None = None, message: str | None = None, data: Any = None) -> None:
        if code is not None:
            self.code = code
        self.message = message if message is not None else self.default_message
        self.data = data
        super().__init__(self.message)

    def to_wire(self) -> dict[str, Any]:
        """The ``error`` member of a response carrying this error."""
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r}, data={self.data!r})"


class _Coded(BusError):
    """Base of the subclasses whose code is fixed: they take ``(message, data)``."""

    def __init__(self, message: str | None = None, data: Any = None) -> None:
        super().__init__(None, message, data)


class ParseError(_Coded):
    code = PARSE_ERROR
    default_message = "parse error"


class InvalidRequest(_Coded):
    code = INVALID_REQUEST
    default_message = "invalid request"


class MethodNotFound(_Coded):
    code = METHOD_NOT_FOUND
    default_message = "method not found"


class InvalidParams(_Coded):
    code = INVALID_PARAMS
    default_message = "invalid params"


class InternalError(_Coded):
    code = INTERNAL_ERROR
    default_message = "internal error"


class Cancelled(_Coded):
    code = REQUEST_CANCELLED
    default_message = "request cancelled"


class Unauthorized(_Coded):
    code = UNAUTHORIZED
    default_message = "unauthorized"


class Forbidden(_Coded):
    code = FORBIDDEN
    default_message = "forbidden"


class Timeout(_Coded):
    code = TIMEOUT
    default_message = "timeout"


class PeerGone(_Coded):
    code = PEER_GONE
    default_message = "peer gone"


class Overloaded(_Coded):
    code = OVERLOADED
    default_message = "overloaded"


class MessageTooLarge(_Coded):
    code = MESSAGE_TOO_LARGE
    default_message = "message too large"


_BY_CODE: dict[int, type[_Coded]] = {
    cls.code: cls
    for cls in (
        ParseError,
        InvalidRequest,
        MethodNotFound,
        InvalidParams,
        InternalError,
        Cancelled,
        Unauthorized,
        Forbidden,
        Timeout,
        PeerGone,
        Overloaded,
        MessageTooLarge,
    )
}


def error_from_code(code: int, message: str | None = None, data: Any = None) -> BusError:
    """The most specific error class for ``code`` (plain :class:`BusError` for unknown codes)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return BusError(code, message, data)
    return cls(message, data)


def error_from_wire(error: Any) -> BusError:
    """Turns a response's ``error`` member into an exception, tolerating malformed ones."""
    if not isinstance(error, dict):
        return InternalError(f"malformed error object: {error!r}")
    code = error.get("code")
    message = error.get("message")
    if not isinstance(code, int) or isinstance(code, bool):
        return InternalError(f"malformed error object: {error!r}", error.get("data"))
    return error_from_code(code, message if isinstance(message, str) else None, error.get("data"))
