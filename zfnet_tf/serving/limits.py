"""What a request may cost before the server spends work on it (DESIGN.md §16).

- A body larger than `max_request_bytes` is refused with HTTP 413 as soon as its
  `Content-Length` says so, or, for a chunked body, as soon as that many bytes have arrived:
  it is never held whole. gRPC refuses a larger message itself (RESOURCE_EXHAUSTED).
- JSON nested deeper than `max_json_depth` is refused (400) by a scan of the bytes before
  any parser recurses into it.
- At most `max_concurrent_requests` Predict requests parse, run and answer at once (REST and
  gRPC together); the others wait in line up to `queue_timeout_seconds`, so a burst costs
  time, not memory.

Images inside a request are measured by the exported signatures themselves (their headers
against the export's `--max-image-pixels`, `zfnet_tf.export`).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import grpc

from zfnet_tf.serving.errors import ServingError, invalid_argument

DEFAULT_MAX_REQUEST_BYTES = 64 * 2**20
# A Predict body nests 5-6 deep (the request, instances, an image's rows, pixels, channels);
# NumPy arrays have at most 64 dimensions.
DEFAULT_MAX_JSON_DEPTH = 32
DEFAULT_MAX_CONCURRENT_REQUESTS = 4
DEFAULT_QUEUE_TIMEOUT_SECONDS = 60.0
# The depth scan reads the body in blocks of this many bytes, so it holds a few small arrays.
_SCAN_BLOCK = 1 << 20


@dataclass(frozen=True)
class ServingLimits:
    """The limits of one front end (see the module's docstring)."""

    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS
    queue_timeout_seconds: float = DEFAULT_QUEUE_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        for flag, value in (
            ("--max_request_bytes", self.max_request_bytes),
            ("--max_json_depth", self.max_json_depth),
            ("--max_concurrent_requests", self.max_concurrent_requests),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{flag} must be a positive integer, got {value!r}")
        if not self.queue_timeout_seconds > 0:
            raise ValueError(f"--request_queue_timeout_seconds must be positive, got {self.queue_timeout_seconds!r}")


class RequestTooLarge(ServingError):
    """A body over `max_request_bytes`: HTTP 413 (gRPC's code for it: RESOURCE_EXHAUSTED)."""

    def __init__(self, limit: int, declared: int | None = None):
        size = f"of {declared} bytes " if declared is not None else f"of more than {limit} bytes "
        super().__init__(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"request body {size}is larger than the limit of {limit} bytes (--max_request_bytes)",
        )

    @property
    def http_status(self) -> int:
        return 413


async def read_body(request, limit: int) -> bytes:
    """The body of a Starlette `request`, refused with `RequestTooLarge` past `limit` bytes:
    at once if its `Content-Length` says so, else (chunked) when the limit is crossed."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise invalid_argument(f"Content-Length must be a number of bytes, got {declared!r}")
        if int(declared) > limit:
            raise RequestTooLarge(limit, int(declared))
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise RequestTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def json_depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (0 for a scalar), by one pass over
    its bytes: brackets inside strings are not counted. Meant for text a parser will then
    check; on malformed text it measures the brackets all the same."""
    import numpy as np

    # Escapes are dropped first: `\\` pairs, then escaped quotes, so every '"' left opens or
    # closes a string.
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    codes = np.frombuffer(text, np.uint8)
    steps = np.zeros(256, np.int8)
    steps[[ord("["), ord("{")]], steps[[ord("]"), ord("}")]] = 1, -1
    depth, deepest, in_string = 0, 0, 0
    for start in range(0, len(codes), _SCAN_BLOCK):
        block = codes[start : start + _SCAN_BLOCK]
        quotes = np.cumsum(block == ord('"'), dtype=np.int32)
        step = steps[block]
        step[(quotes + in_string) & 1 == 1] = 0  # inside a string
        levels = np.cumsum(step, dtype=np.int32)
        deepest = max(deepest, depth + int(levels.max()))
        depth += int(levels[-1])
        in_string = (in_string + int(quotes[-1])) & 1
    return deepest


def check_json_depth(body: bytes, limit: int) -> None:
    """INVALID_ARGUMENT if the JSON `body` nests deeper than `limit`."""
    depth = json_depth(body)
    if depth > limit:
        raise invalid_argument(
            f"request JSON nests {depth} levels deep, more than the limit of {limit} (--max_json_depth)"
        )


class RequestSlots:
    """At most `limits.max_concurrent_requests` holders at once; the others wait in line up
    to `limits.queue_timeout_seconds`, then get UNAVAILABLE (HTTP 503) saying so."""

    def __init__(self, limits: ServingLimits):
        self.limits = limits
        self._semaphore = threading.BoundedSemaphore(limits.max_concurrent_requests)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._semaphore.acquire(timeout=self.limits.queue_timeout_seconds):
            raise ServingError(
                grpc.StatusCode.UNAVAILABLE,
                f"the server is busy: {self.limits.max_concurrent_requests} requests were running "
                f"for all of the {self.limits.queue_timeout_seconds:g} s this one waited "
                "(--max_concurrent_requests, --request_queue_timeout_seconds); try again",
            )
        try:
            yield
        finally:
            self._semaphore.release()
