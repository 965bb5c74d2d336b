"""TF Serving's REST API (`/v1/models/...`) as a Starlette app over a `ModelManager`."""

from __future__ import annotations

import contextlib
import logging
import re

import anyio.to_thread

import grpc
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tensorflow_serving.apis import get_model_status_pb2

from zfnet_tf.serving.errors import ServingError, error_response, invalid_argument
from zfnet_tf.serving.explorer import explorer_routes
from zfnet_tf.serving.json_codec import parse_predict_body, request_to_arrays, response_body
from zfnet_tf.serving.limits import RequestSlots, ServingLimits, check_json_depth, read_body
from zfnet_tf.serving.manager import ModelManager
from zfnet_tf.serving.servable import Servable

logger = logging.getLogger("zfnet_tf.serving")

# /v1/models/NAME[/versions/N | /labels/L][:predict | /metadata], as TF Serving parses it.
_MODEL_PATH = re.compile(
    r"(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?::(?P<method>[A-Za-z]+)|/(?P<subresource>metadata))?/?"
)


def _message_to_json(message) -> dict:
    # TF Serving prints proto field names as declared and every field, defaults included.
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def metadata_json(model_name: str, servable: Servable) -> dict:
    """GetModelMetadata's answer as TF Serving's REST API prints it, plus `class_names` and
    `image_transform` when the SavedModel ships them (`assets.extra/class_names.txt`,
    `assets.extra/image_transform.json`)."""
    metadata = {"signature_def": _message_to_json(servable.signature_def_map())}
    if servable.class_names is not None:
        metadata["class_names"] = servable.class_names
    if servable.image_transform is not None:
        metadata["image_transform"] = servable.image_transform
    return {
        "model_spec": {"name": model_name, "signature_name": "", "version": str(servable.version)},
        "metadata": metadata,
    }


def create_app(
    manager: ModelManager,
    max_threads: int | None = None,
    limits: ServingLimits | None = None,
    slots: RequestSlots | None = None,
) -> Starlette:
    """The REST app: model status, metadata and Predict for every model of `manager`, and
    the explorer page at `/` (`zfnet_tf.serving.explorer`).

    Requests run in worker threads (TensorFlow releases the GIL while it computes);
    `max_threads` caps how many at once (default: AnyIO's 40). A Predict body is refused
    past `limits.max_request_bytes` (413) and past `limits.max_json_depth` (400) before it is
    parsed, and is parsed and run only while it holds one of `slots` (shared with gRPC;
    default: slots of its own for `limits`).
    """
    limits = limits or ServingLimits()
    slots = slots or RequestSlots(limits)

    def status(name: str, version: int | None, label: str | None) -> dict:
        statuses = manager.model(name).statuses(version, label)
        response = get_model_status_pb2.GetModelStatusResponse(model_version_status=statuses)
        return _message_to_json(response)

    def metadata(name: str, version: int | None, label: str | None) -> dict:
        return metadata_json(name, manager.get(name, version, label))

    def predict(name: str, version: int | None, label: str | None, body: bytes) -> bytes:
        servable = manager.get(name, version, label)
        check_json_depth(body, limits.max_json_depth)
        with slots.slot():
            signature_name, payload, format = parse_predict_body(body)
            signature = servable.signature(signature_name)
            inputs = request_to_arrays(payload, format, signature)
            return response_body(servable.predict(signature_name, inputs), format)

    async def models(request: Request) -> Response:
        path = request.path_params["path"]
        match = _MODEL_PATH.fullmatch(path)
        try:
            if match is None:
                raise invalid_argument(f"Malformed request: {request.method} {request.url.path}")
            name, label = match["name"], match["label"]
            version = int(match["version"]) if match["version"] else None
            method, subresource = match["method"], match["subresource"]
            if request.method == "POST" and method == "predict":
                body = await read_body(request, limits.max_request_bytes)
                data = await run_in_threadpool(predict, name, version, label, body)
                return Response(data, media_type="application/json")
            if request.method == "POST" and method in ("classify", "regress"):
                raise ServingError(
                    grpc.StatusCode.UNIMPLEMENTED,
                    f"{method} is not served here (tf.Example signatures): use :predict",
                )
            if request.method == "GET" and method is None:
                handler = metadata if subresource == "metadata" else status
                return JSONResponse(await run_in_threadpool(handler, name, version, label))
            raise invalid_argument(f"Malformed request: {request.method} {request.url.path}")
        except ServingError as error:
            return error_response(error)
        except Exception as error:  # the server answers and keeps serving
            logger.exception("REST request %s %s failed", request.method, request.url.path)
            return JSONResponse({"error": f"internal error: {type(error).__name__}: {error}"}, status_code=500)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if max_threads:
            anyio.to_thread.current_default_thread_limiter().total_tokens = max_threads
        yield

    routes = [Route("/v1/models/{path:path}", models, methods=["GET", "POST"])]
    routes += explorer_routes(lambda: list(manager.models), limits.max_request_bytes)
    return Starlette(routes=routes, lifespan=lifespan)
