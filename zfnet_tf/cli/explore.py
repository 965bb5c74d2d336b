"""`zfnet-tf explore`: the explorer page in front of any TF Serving REST API."""

from __future__ import annotations

import argparse

from zfnet_tf.cli.command import Command
from zfnet_tf.cli.common import positive_float


def add_flags(parser: argparse.ArgumentParser) -> None:
    from zfnet_tf.serving.server import add_request_limit_flags

    parser.add_argument("--model_server", required=True,
                        help="REST address of the model server, e.g. http://localhost:8501")
    parser.add_argument("--model_name", required=True, help="the served model to show")
    parser.add_argument("--port", type=int, default=8080, help="port of the page (default 8080)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 to share the page)")
    parser.add_argument("--timeout", type=positive_float, default=300.0,
                        help="seconds to wait for one answer of the model server (default 300)")
    add_request_limit_flags(parser)


def run(args: argparse.Namespace) -> int:
    """serve the explorer page for a model on a TF Serving REST API (tensorflow_model_server too)

    Serves the explorer page and forwards its requests to --model_server, e.g. zfnet-tf explore
    --model_server http://localhost:8501 --model_name zfnet --port 8080 (zfnet-tf serve shows the
    same page on its own REST port).
    """
    import logging

    from zfnet_tf.serving.explorer.proxy import create_proxy_app, normalize_server_address, probe
    from zfnet_tf.serving.listening import bound_socket, shown_address, uvicorn_server
    from zfnet_tf.serving.server import limits_from_args

    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be a port number, got {args.port}")
    upstream = normalize_server_address(args.model_server)
    app = create_proxy_app(upstream, args.model_name, timeout=args.timeout, limits=limits_from_args(args))
    # Bound before the address is printed, so a taken port fails with a clear message.
    sock = bound_socket(args.host, args.port, "the explorer page")
    problem = probe(upstream, args.model_name)
    if problem:
        print(f"warning: {problem} (the page will show the error until the server answers)", flush=True)
    print(f"Explorer of model {args.model_name} on {upstream}: {shown_address(args.host, args.port)}", flush=True)
    logging.basicConfig(level=logging.WARNING)
    uvicorn_server(app).run(sockets=[sock])
    return 0


COMMANDS = (Command("explore", add_flags, run),)
