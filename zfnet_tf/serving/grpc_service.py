"""TF Serving's gRPC services (`tensorflow-serving-api` definitions) over a `ModelManager`."""

from __future__ import annotations

import json
import logging
from concurrent import futures

import grpc
import tensorflow as tf
from google.protobuf import any_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from zfnet_tf.serving.errors import ServingError, invalid_argument
from zfnet_tf.serving.limits import RequestSlots, ServingLimits
from zfnet_tf.serving.manager import ModelManager

logger = logging.getLogger("zfnet_tf.serving")

SIGNATURE_DEF_FIELD = "signature_def"
# Not a TF Serving field: this server's answer for the SavedModel's class names (a string
# TensorProto). TF Serving rejects it as unsupported, which tells a client to look elsewhere.
CLASS_NAMES_FIELD = "class_names"
# Likewise: the SavedModel's image transform (`assets.extra/image_transform.json`), as a
# string TensorProto holding that JSON.
IMAGE_TRANSFORM_FIELD = "image_transform"


def message_options(limits: ServingLimits) -> list[tuple[str, int]]:
    """Requests up to `limits.max_request_bytes` (gRPC refuses a larger one with
    RESOURCE_EXHAUSTED before it is parsed; its default would be 4 MB); answers of any size
    (projections of a batch are large)."""
    return [("grpc.max_receive_message_length", limits.max_request_bytes), ("grpc.max_send_message_length", -1)]


def _internal_error(context: grpc.ServicerContext, method: str, error: Exception):
    logger.exception("gRPC %s failed", method)
    context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}: {error}")


def _spec(model_spec):
    version = model_spec.version.value if model_spec.HasField("version") else None
    return model_spec.name, version, model_spec.version_label or None


def _abort(context: grpc.ServicerContext, error: ServingError):
    context.abort(error.code, error.message)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata; Classify, Regress and MultiInference are UNIMPLEMENTED."""

    def __init__(self, manager: ModelManager, slots: RequestSlots | None = None):
        self.manager = manager
        self.slots = slots or RequestSlots(ServingLimits())

    def Predict(self, request: predict_pb2.PredictRequest, context) -> predict_pb2.PredictResponse:
        try:
            with self.slots.slot():
                return self._predict(request)
        except ServingError as error:
            _abort(context, error)
        except Exception as error:
            _internal_error(context, "Predict", error)

    def _predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        name, version, label = _spec(request.model_spec)
        servable = self.manager.get(name, version, label)
        inputs = {}
        for key, proto in request.inputs.items():
            try:
                inputs[key] = tf.make_ndarray(proto)
            except Exception as error:  # a malformed TensorProto
                raise invalid_argument(f"input {key!r} is not a valid TensorProto: {error}") from None
        outputs = servable.predict(request.model_spec.signature_name, inputs, request.output_filter)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = request.model_spec.signature_name or "serving_default"
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    def GetModelMetadata(self, request, context):
        try:
            if not request.metadata_field:
                raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
            fields = (SIGNATURE_DEF_FIELD, CLASS_NAMES_FIELD, IMAGE_TRANSFORM_FIELD)
            unsupported = [f for f in request.metadata_field if f not in fields]
            if unsupported:
                raise invalid_argument(f"Metadata field {unsupported[0]} is not supported")
            name, version, label = _spec(request.model_spec)
            servable = self.manager.get(name, version, label)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = name
            response.model_spec.version.value = servable.version
            for field in request.metadata_field:
                packed = any_pb2.Any()
                value = {
                    CLASS_NAMES_FIELD: servable.class_names,
                    IMAGE_TRANSFORM_FIELD: (
                        None if servable.image_transform is None else json.dumps(servable.image_transform)
                    ),
                }.get(field)
                if field == SIGNATURE_DEF_FIELD:
                    packed.Pack(servable.signature_def_map())
                elif value is None:
                    raise ServingError(
                        grpc.StatusCode.NOT_FOUND,
                        f"model {name} version {servable.version} ships no {field.replace('_', ' ')}",
                    )
                else:
                    packed.Pack(tf.make_tensor_proto(value))
                response.metadata[field].CopyFrom(packed)
            return response
        except ServingError as error:
            _abort(context, error)
        except Exception as error:
            _internal_error(context, "GetModelMetadata", error)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus; HandleReloadConfigRequest is UNIMPLEMENTED."""

    def __init__(self, manager: ModelManager):
        self.manager = manager

    def GetModelStatus(self, request, context):
        try:
            name, version, label = _spec(request.model_spec)
            statuses = self.manager.model(name).statuses(version, label)
            return get_model_status_pb2.GetModelStatusResponse(model_version_status=statuses)
        except ServingError as error:
            _abort(context, error)
        except Exception as error:
            _internal_error(context, "GetModelStatus", error)


def create_grpc_server(
    manager: ModelManager,
    address: str,
    max_workers: int = 16,
    limits: ServingLimits | None = None,
    slots: RequestSlots | None = None,
) -> tuple[grpc.Server, int]:
    """A started-later gRPC server bound to `address`; returns it and the bound port.
    Messages over `limits.max_request_bytes` are refused (RESOURCE_EXHAUSTED); Predict runs
    only while it holds one of `slots` (shared with REST)."""
    limits = limits or ServingLimits()
    # No SO_REUSEPORT: a second server on a taken port must fail, not share it silently.
    options = [*message_options(limits), ("grpc.so_reuseport", 0)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), options=options)
    service = PredictionService(manager, slots or RequestSlots(limits))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(service, server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(manager), server)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if port == 0:
        raise ValueError(f"cannot listen for gRPC on {address} (is the port taken?)")
    return server, port
