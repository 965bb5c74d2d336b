"""`zfnet-tf explore`: the page in front of any server that speaks TF Serving's REST API.

`tensorflow_model_server` sends no CORS headers, so a page from another origin cannot call
it; this app serves the page and forwards its `/v1/models/...` requests (Predict, metadata,
status) to the model server unchanged. When the model server is unreachable the page gets
TF Serving's error shape (`{"error": ...}`, HTTP 502 or 504) and the proxy keeps serving.

The proxy enforces the model server's request limits itself (`zfnet_tf.serving.limits`): a
body over `max_request_bytes` is answered 413 and JSON nested deeper than `max_json_depth`
400, before anything is forwarded, so `tensorflow_model_server` behind it is spared them too.
"""

from __future__ import annotations

import contextlib
import logging

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from starlette.concurrency import run_in_threadpool

from zfnet_tf.serving.errors import ServingError, error_response
from zfnet_tf.serving.explorer.routes import explorer_routes
from zfnet_tf.serving.limits import ServingLimits, check_json_depth, read_body

logger = logging.getLogger("zfnet_tf.serving")

# Forwarded both ways; hop-by-hop and length headers are the proxy's own business.
_FORWARDED_HEADERS = ("content-type", "accept")


def normalize_server_address(address: str) -> str:
    """`http://host:port` from "host:port" or a URL (no trailing slash)."""
    address = address.strip()
    if not address:
        raise ValueError("--model_server must be an address such as http://localhost:8501")
    if "://" not in address:
        address = "http://" + address
    if not address.startswith(("http://", "https://")):
        raise ValueError(f"--model_server must be an http(s) address, got {address!r}")
    return address.rstrip("/")


def create_proxy_app(
    model_server: str, model_name: str, timeout: float = 300.0, limits: ServingLimits | None = None
) -> Starlette:
    """The page for `model_name`, with `/v1/models/...` forwarded to `model_server`.

    Args:
        model_server: the REST address of the model server, e.g. "http://localhost:8501".
        model_name: the model the page shows by default (`?model=` picks another).
        timeout: seconds to wait for one answer of the model server.
        limits: the request size and JSON depth refused before forwarding (413, 400).
    """
    upstream = normalize_server_address(model_server)
    limits = limits or ServingLimits()
    state: dict[str, httpx.AsyncClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with httpx.AsyncClient(timeout=timeout) as client:
            state["client"] = client
            yield

    async def forward(request: Request) -> Response:
        url = f"{upstream}/v1/models/{request.path_params['path']}"
        if request.url.query:
            url += "?" + request.url.query
        headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED_HEADERS}
        try:
            body = await read_body(request, limits.max_request_bytes)
            if body:
                await run_in_threadpool(check_json_depth, body, limits.max_json_depth)
        except ServingError as error:
            return error_response(error)
        try:
            answer = await state["client"].request(request.method, url, content=body, headers=headers)
        except httpx.TimeoutException:
            return JSONResponse(
                {"error": f"the model server at {upstream} did not answer within {timeout:g} s"},
                status_code=504,
            )
        except httpx.HTTPError as error:
            logger.warning("forwarding %s %s failed: %s", request.method, url, error)
            return JSONResponse(
                {"error": f"cannot reach the model server at {upstream}: {error or type(error).__name__}"},
                status_code=502,
            )
        kept = {k: v for k, v in answer.headers.items() if k.lower() in _FORWARDED_HEADERS}
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    routes = explorer_routes(lambda: [model_name], limits.max_request_bytes)
    routes.append(Route("/v1/models/{path:path}", forward, methods=["GET", "POST"]))
    return Starlette(routes=routes, lifespan=lifespan)


def probe(model_server: str, model_name: str, timeout: float = 5.0) -> str | None:
    """None if the model server reports `model_name`, else a sentence saying what is wrong."""
    url = f"{normalize_server_address(model_server)}/v1/models/{model_name}"
    try:
        answer = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as error:
        return f"cannot reach {url}: {error or type(error).__name__}"
    if answer.status_code != 200:
        return f"{url} answered HTTP {answer.status_code}: {answer.text[:200]}"
    return None
