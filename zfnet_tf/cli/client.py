"""`zfnet-tf client`: classify images or fetch projections from a TF Serving API server."""

from __future__ import annotations

import argparse

from zfnet_tf.cli.common import positive_int


def _add_connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", help="host:port (default localhost:8501 for REST, :8500 for gRPC)")
    parser.add_argument("--protocol", choices=("rest", "grpc"), default="rest")
    parser.add_argument("--model-name", "--model_name", dest="model_name", required=True,
                        help="the served model's name")
    parser.add_argument("--version", type=int, help="a model version (default: the server's latest)")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG/PNG)")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "client",
        help="ask a model server (zfnet-tf serve or tensorflow_model_server) about images",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    classify = actions.add_parser("classify", help="top-k labels of image files")
    _add_connection_flags(classify)
    classify.add_argument("--top", type=positive_int, default=5, help="how many labels (default 5)")
    classify.add_argument("--labels", help="class names: a text file, or a SavedModel folder "
                          "(needed for tensorflow_model_server, which does not send them)")
    classify.set_defaults(func=run_classify)

    project = actions.add_parser("project", help="deconvnet projections of a layer, saved as PNGs")
    _add_connection_flags(project)
    project.add_argument("--layer", type=int, required=True, choices=range(1, 6), metavar="L",
                         help="layer 1-5")
    project.add_argument("--feature", type=int, default=-1,
                         help="feature map; -1: each image's strongest (default)")
    project.add_argument("--out", required=True, help="output folder for the PNGs")
    project.add_argument("--resize-size", type=positive_int,
                         help="resize images' shorter side to this before the centre crop (default: "
                         "the model's, from this project's server; the input size otherwise)")
    project.set_defaults(func=run_project)


def _client(args: argparse.Namespace):
    from zfnet_tf.serving.client import DEFAULT_PORTS, ServingClient, read_class_names

    server = args.server or f"localhost:{DEFAULT_PORTS[args.protocol]}"
    labels = read_class_names(args.labels) if getattr(args, "labels", None) else None
    return ServingClient(server, args.model_name, args.protocol, version=args.version, class_names=labels)


def _failing_to_value_error(function):
    from zfnet_tf.serving.client import ServingClientError

    try:
        return function()
    except ServingClientError as error:
        raise ValueError(str(error)) from None


def run_classify(args: argparse.Namespace) -> int:
    from zfnet_tf.serving.client import classify_image_files

    with _client(args) as client:
        results = _failing_to_value_error(lambda: classify_image_files(client, args.images, args.top))
    for path, top in zip(args.images, results):
        print(path)
        for rank, (label, probability) in enumerate(top, 1):
            print(f"  {rank}. {label}  {probability:.4f}")
    return 0


def run_project(args: argparse.Namespace) -> int:
    from zfnet_tf.serving.client import project_image_files

    with _client(args) as client:
        results = _failing_to_value_error(
            lambda: project_image_files(
                client, args.images, args.layer, args.feature, args.out, args.resize_size
            )
        )
    for result in results:
        row, col = result["location"]
        print(
            f"{result['image']}: layer {args.layer} feature {result['feature']} "
            f"(activation {result['activation']:.4g} at row {row}, column {col}) -> {result['projection']}"
        )
    return 0
