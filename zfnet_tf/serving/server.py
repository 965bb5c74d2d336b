"""A model server that speaks TF Serving's REST and gRPC APIs over the same folder layout.

`python -m zfnet_tf.serving --model_name=NAME --model_base_path=PATH --rest_api_port=8501`
(or `zfnet-tf serve ...`) takes `tensorflow_model_server`'s own flags, so scripts can start
either. It is a generic SavedModel server: it loads versions with `tf.saved_model.load` and
imports none of zfnet_tf's model, deconvnet or training code.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING

from zfnet_tf.serving.limits import (
    DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_MAX_JSON_DEPTH,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_QUEUE_TIMEOUT_SECONDS,
    ServingLimits,
)
from zfnet_tf.serving.listening import bound_socket, shown_address, uvicorn_server

if TYPE_CHECKING:  # flags parse without loading protobuf or TensorFlow
    from tensorflow_serving.config import model_server_config_pb2

logger = logging.getLogger("zfnet_tf.serving")

DEFAULT_MAX_BATCH_SIZE = 64


def _flag_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_server_flags(parser: argparse.ArgumentParser) -> None:
    """`tensorflow_model_server`'s flags (those this server honours), plus a few of its own."""
    tf_serving = parser.add_argument_group("tensorflow_model_server flags")
    tf_serving.add_argument("--port", type=int, default=8500, help="gRPC port (default 8500)")
    tf_serving.add_argument("--rest_api_port", type=int, default=0,
                            help="REST port; 0 (the default, as in TF Serving) disables REST")
    tf_serving.add_argument("--model_name", default="default", help="name of the model (default 'default')")
    tf_serving.add_argument("--model_base_path", default="",
                            help="folder holding the model's versions <base>/<N>/")
    tf_serving.add_argument("--model_config_file", default="",
                            help="a models.config (text ModelServerConfig) for several models; "
                                 "--model_name and --model_base_path are then ignored")
    tf_serving.add_argument("--file_system_poll_wait_seconds", type=int, default=1,
                            help="seconds between looks for new versions; 0: look once at start")
    tf_serving.add_argument("--max_num_load_retries", type=int, default=5,
                            help="retries of a version that fails to load")
    tf_serving.add_argument("--rest_api_num_threads", type=int, default=0,
                            help="threads running REST requests (default: 40)")
    tf_serving.add_argument("--tensorflow_intra_op_parallelism", type=int, default=0,
                            help="threads inside one op (0: TensorFlow's choice)")
    tf_serving.add_argument("--tensorflow_inter_op_parallelism", type=int, default=0,
                            help="ops run at once (0: TensorFlow's choice)")
    tf_serving.add_argument("--enable_batching", type=_flag_bool, nargs="?", const=True, default=False,
                            help="accepted for compatibility; requests run as they come "
                                 "(use --max_batch_size to bound them)")
    own = parser.add_argument_group("this server's own flags")
    own.add_argument("--host", default="0.0.0.0", help="address to listen on (default all)")
    own.add_argument("--max_batch_size", type=int, default=DEFAULT_MAX_BATCH_SIZE,
                     help=f"largest batch one request may carry (default {DEFAULT_MAX_BATCH_SIZE})")
    own.add_argument("--grpc_max_workers", type=int, default=16, help="gRPC worker threads")
    add_request_limit_flags(own)
    own.add_argument("--max_concurrent_requests", type=int, default=DEFAULT_MAX_CONCURRENT_REQUESTS,
                     help="Predict requests (REST and gRPC) parsed and run at once; the others wait "
                     f"in line, so memory stays bounded under a burst (default {DEFAULT_MAX_CONCURRENT_REQUESTS})")
    own.add_argument("--request_queue_timeout_seconds", type=float, default=DEFAULT_QUEUE_TIMEOUT_SECONDS,
                     help="how long a request waits in that line before it is answered 503/UNAVAILABLE "
                     f"(default {DEFAULT_QUEUE_TIMEOUT_SECONDS:g})")


def add_request_limit_flags(group) -> None:
    """`--max_request_bytes` and `--max_json_depth` (the server's and the explorer proxy's)."""
    group.add_argument("--max_request_bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES,
                       help="a larger request body is refused before it is read whole (REST: 413, "
                       f"gRPC: RESOURCE_EXHAUSTED; default {DEFAULT_MAX_REQUEST_BYTES} = 64 MiB)")
    group.add_argument("--max_json_depth", type=int, default=DEFAULT_MAX_JSON_DEPTH,
                       help=f"JSON nested deeper is refused (400) before it is parsed (default {DEFAULT_MAX_JSON_DEPTH})")


def limits_from_args(args: argparse.Namespace) -> "ServingLimits":
    return ServingLimits(
        max_request_bytes=args.max_request_bytes,
        max_json_depth=args.max_json_depth,
        max_concurrent_requests=getattr(args, "max_concurrent_requests", DEFAULT_MAX_CONCURRENT_REQUESTS),
        queue_timeout_seconds=getattr(args, "request_queue_timeout_seconds", DEFAULT_QUEUE_TIMEOUT_SECONDS),
    )


def model_server_config_from_args(args: argparse.Namespace) -> "model_server_config_pb2.ModelServerConfig":
    from zfnet_tf.serving.config import config_from_flags, read_model_config_file

    if args.model_config_file:
        return read_model_config_file(args.model_config_file)
    return config_from_flags(args.model_name, args.model_base_path)


class ModelServer:
    """The manager of model versions with a gRPC and (optionally) a REST front end.

    Args:
        config: the models to serve.
        host: address to listen on.
        grpc_port: gRPC port.
        rest_api_port: REST port, 0 for none.
        max_batch_size: larger batches are refused with INVALID_ARGUMENT.
        file_system_poll_wait_seconds: how often to look for new versions (0: only at start).
        limits: request size, JSON depth and concurrency (`zfnet_tf.serving.limits`); REST
            and gRPC share the concurrent-request slots.
    """

    def __init__(
        self,
        config: "model_server_config_pb2.ModelServerConfig",
        host: str = "0.0.0.0",
        grpc_port: int = 8500,
        rest_api_port: int = 0,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        file_system_poll_wait_seconds: float = 1.0,
        max_num_load_retries: int = 5,
        rest_api_num_threads: int = 0,
        grpc_max_workers: int = 16,
        limits: ServingLimits | None = None,
    ):
        from zfnet_tf.serving.limits import RequestSlots
        from zfnet_tf.serving.manager import ModelManager

        if max_batch_size < 1:
            raise ValueError(f"--max_batch_size must be >= 1, got {max_batch_size}")
        for flag, port in (("--port", grpc_port), ("--rest_api_port", rest_api_port)):
            if not 0 <= port < 65536:
                raise ValueError(f"{flag} must be a port number, got {port}")
        if grpc_port == 0:
            raise ValueError("--port must be set: the gRPC API is always served")
        self.host = host
        self.grpc_port = grpc_port
        self.rest_api_port = rest_api_port
        self.rest_api_num_threads = rest_api_num_threads
        self.grpc_max_workers = grpc_max_workers
        self.limits = limits or ServingLimits()
        self.slots = RequestSlots(self.limits)
        self.manager = ModelManager(
            config, max_batch_size, file_system_poll_wait_seconds, max_num_load_retries
        )
        self._grpc_server = None
        self._rest_server = None
        self._rest_socket: socket.socket | None = None
        self._stopped = threading.Event()

    def start(self) -> None:
        """Loads the models and starts gRPC (REST starts in `serve_forever`)."""
        from zfnet_tf.serving.grpc_service import create_grpc_server

        # Bind first, so a taken port fails before minutes of model loading.
        if self.rest_api_port:
            self._rest_socket = bound_socket(self.host, self.rest_api_port, "REST")
        self._grpc_server, _ = create_grpc_server(
            self.manager, f"{self.host}:{self.grpc_port}", self.grpc_max_workers, self.limits, self.slots
        )
        self.manager.start()
        self._grpc_server.start()
        logger.info("Running gRPC ModelServer at %s:%d ...", self.host, self.grpc_port)

    def serve_forever(self) -> None:
        """Serves REST (if enabled) in this thread until SIGINT/SIGTERM, then stops all."""
        try:
            if self.rest_api_port:
                self._serve_rest()
            else:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(signum, lambda *_: self._stopped.set())
                self._stopped.wait()
        finally:
            self.stop()

    def _serve_rest(self) -> None:
        from zfnet_tf.serving.rest import create_app

        app = create_app(
            self.manager, max_threads=self.rest_api_num_threads or None, limits=self.limits, slots=self.slots
        )
        self._rest_server = uvicorn_server(app, host=self.host, port=self.rest_api_port)
        logger.info("Exporting HTTP/REST API at:%s:%d ...", self.host, self.rest_api_port)
        logger.info("Explorer page at %s", shown_address(self.host, self.rest_api_port))
        self._rest_server.run(sockets=[self._rest_socket])

    def stop(self) -> None:
        self._stopped.set()
        if self._rest_server is not None:
            self._rest_server.should_exit = True
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=2).wait()
            self._grpc_server = None
        self.manager.stop()


def build_parser(prog: str = "zfnet-tf serve") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve SavedModels over TF Serving's REST and gRPC APIs "
        "(tensorflow_model_server's flags).",
    )
    add_server_flags(parser)
    return parser


def run_server(args: argparse.Namespace) -> int:
    """Starts a `ModelServer` from parsed flags and serves until interrupted."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname).1s serving] %(message)s", stream=sys.stderr
    )
    if args.tensorflow_intra_op_parallelism or args.tensorflow_inter_op_parallelism:
        import tensorflow as tf

        if args.tensorflow_intra_op_parallelism:
            tf.config.threading.set_intra_op_parallelism_threads(args.tensorflow_intra_op_parallelism)
        if args.tensorflow_inter_op_parallelism:
            tf.config.threading.set_inter_op_parallelism_threads(args.tensorflow_inter_op_parallelism)
    server = ModelServer(
        model_server_config_from_args(args),
        host=args.host,
        grpc_port=args.port,
        rest_api_port=args.rest_api_port,
        max_batch_size=args.max_batch_size,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
        max_num_load_retries=args.max_num_load_retries,
        rest_api_num_threads=args.rest_api_num_threads,
        grpc_max_workers=args.grpc_max_workers,
        limits=limits_from_args(args),
    )
    server.start()
    server.serve_forever()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser("python -m zfnet_tf.serving").parse_args(argv)
    try:
        return run_server(args)
    except ValueError as error:
        print(f"serving: error: {error}", file=sys.stderr)
        return 2
