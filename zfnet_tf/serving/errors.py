"""Errors the way TF Serving reports them: a gRPC status code and a message naming the problem."""

from __future__ import annotations

import re

import grpc

# TF Serving's REST status for each canonical code (model_servers/http_rest_api_util).
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

_CODE_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class ServingError(Exception):
    """A request the server answers with an error status instead of outputs."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


def error_response(error: ServingError):
    """TF Serving's REST error: `{"error": message}` with the code's HTTP status."""
    from starlette.responses import JSONResponse

    return JSONResponse({"error": error.message}, status_code=error.http_status)


def invalid_argument(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def status_code_from_number(number: int) -> grpc.StatusCode:
    """TensorFlow's error codes are the canonical gRPC codes, by number."""
    return _CODE_BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


# tf.debugging.assert_* prints "assertion failed: [MESSAGE] [Condition ...] [x (...) = ] [VALUES] ..."
_ASSERTION = re.compile(
    r"assertion failed: \[(?P<message>[^\]]*)\]"
    r"(?:.*?\[x \([^)]*\) = \] (?P<values>.*?)(?: \[y \(|$))?",
    re.MULTILINE,
)


def tensorflow_error_message(message: str) -> str:
    """The useful sentence of a TensorFlow runtime error, without graph node and op noise."""
    assertion = _ASSERTION.search(message)
    if assertion:
        values = assertion["values"]
        return assertion["message"] + (f" (got {values})" if values else "")
    kept = []
    for line in message.splitlines():
        line = line.strip()
        if (
            not line
            or line == "Graph execution error:"
            or line.startswith("Detected at node")
            or line == "<stack traces unavailable>"
            or line.startswith("[[")
        ):
            continue
        if " [Op:" in line:
            line = line[: line.index(" [Op:")]
        kept.append(line)
    return " ".join(kept) or message.strip()
