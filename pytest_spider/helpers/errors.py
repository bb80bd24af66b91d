"""Why a connection failed: one small vocabulary for every helper.

Besides PATHspider's ``spdr_state``, each result says which class of failure it was, so a
condition like ``broken`` can be traced to a timeout, a refusal, a reset or a TLS problem.
"""

from __future__ import annotations

import errno
from typing import Any, Final

from pytest_spider.spider import CONN_FAILED, CONN_OK, CONN_SKIPPED, CONN_TIMEOUT

TIMEOUT: Final = "timeout"
REFUSED: Final = "refused"
RESET: Final = "reset"
TLS: Final = "tls"
HTTP: Final = "http"
OTHER: Final = "other"

#: libcurl error codes (CURLE_*) by class; anything not listed is OTHER.
_CURL_CLASSES: Final[dict[int, str]] = {
    28: TIMEOUT,  # OPERATION_TIMEDOUT
    7: REFUSED,  # COULDNT_CONNECT (refined by message below)
    55: RESET,  # SEND_ERROR
    56: RESET,  # RECV_ERROR
    35: TLS,
    51: TLS,
    53: TLS,
    54: TLS,
    58: TLS,
    59: TLS,
    60: TLS,
    64: TLS,
    66: TLS,
    77: TLS,
    80: TLS,
    82: TLS,
    83: TLS,
    90: TLS,
    91: TLS,
    98: TLS,
    1: HTTP,  # UNSUPPORTED_PROTOCOL
    8: HTTP,  # WEIRD_SERVER_REPLY
    16: HTTP,  # HTTP2 framing
    18: HTTP,  # PARTIAL_FILE
    22: HTTP,  # HTTP_RETURNED_ERROR
    52: HTTP,  # GOT_NOTHING
    92: HTTP,  # HTTP2_STREAM
    95: HTTP,  # HTTP3
    100: HTTP,  # TOO_LARGE (e.g. response headers past curl's limit)
}

_ERRNO_CLASSES: Final[dict[int, str]] = {
    errno.ETIMEDOUT: TIMEOUT,
    errno.ECONNREFUSED: REFUSED,
    errno.ECONNRESET: RESET,
    errno.EPIPE: RESET,
}


def classify_curl(code: int, message: str, os_errno: int = 0) -> str:
    """The error class of a libcurl error code, its message and the socket's errno.

    The errno decides where it names a refusal or reset: libcurl's own words for a refused
    connection vary between versions ("Connection refused", "Could not connect to server").
    """
    if os_errno in _ERRNO_CLASSES and code in (7, 55, 56):
        return _ERRNO_CLASSES[os_errno]
    cls = _CURL_CLASSES.get(code, OTHER)
    if code == 7 and "refused" not in message.lower():
        return TIMEOUT if "timed out" in message.lower() else OTHER
    if cls == RESET and "reset" not in message.lower():
        return OTHER if code == 55 else HTTP
    return cls


def classify_oserror(exc: BaseException) -> str:
    """The error class of a socket-level exception."""
    if isinstance(exc, TimeoutError):
        return TIMEOUT
    if isinstance(exc, OSError) and exc.errno is not None:
        return _ERRNO_CLASSES.get(exc.errno, OTHER)
    return OTHER


def failure(error_class: str, message: str, **fields: Any) -> dict[str, Any]:
    """A failed flow result: PATHspider's state plus our error class and message."""
    state = CONN_TIMEOUT if error_class == TIMEOUT else CONN_FAILED
    return {"spdr_state": state, "error_class": error_class, "error": message, "sp": 0, **fields}


def skipped(reason: str) -> dict[str, Any]:
    """A connection not attempted (PATHspider's CONN_SKIPPED), and why."""
    return {"spdr_state": CONN_SKIPPED, "sp": 0, "error_class": None, "error": reason}


def success(**fields: Any) -> dict[str, Any]:
    """A successful flow result."""
    return {"spdr_state": CONN_OK, "error_class": None, "error": None, **fields}
