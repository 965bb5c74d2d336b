"""`zfnet-tf client`: classify images or fetch projections from a TF Serving API server."""

from __future__ import annotations

import argparse

from zfnet_tf.cli.command import Command
from zfnet_tf.cli.common import positive_int


def _add_connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", help="host:port (default localhost:8501 for REST, :8500 for gRPC)")
    parser.add_argument("--protocol", choices=("rest", "grpc"), default="rest")
    parser.add_argument("--model-name", "--model_name", dest="model_name", required=True,
                        help="the served model's name")
    parser.add_argument("--version", type=positive_int, help="a model version (default: the server's latest)")


def _add_image_files(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG/PNG)")


def _add_classify_flags(parser: argparse.ArgumentParser) -> None:
    _add_connection_flags(parser)
    parser.add_argument("--top", type=positive_int, default=5, help="how many labels (default 5)")
    parser.add_argument("--labels", help="class names: a text file, or a SavedModel folder "
                        "(needed for tensorflow_model_server, which does not send them)")
    _add_image_files(parser)


def _add_project_flags(parser: argparse.ArgumentParser) -> None:
    _add_connection_flags(parser)
    parser.add_argument("--layer", required=True, metavar="L",
                        help="a layer the export projects: 1-5 (or layer1-layer5) for ZFNet, a layer "
                        "name (e.g. block5_conv3) for other models; `zfnet-tf client layers` lists them")
    parser.add_argument("--feature", type=int, default=-1,
                        help="feature map; -1: each image's strongest (default)")
    parser.add_argument("--mode", choices=("max", "map"), default="max",
                        help="max: the map's strongest activation alone, the paper's figures (default); "
                        "map: the whole map")
    parser.add_argument("--out", required=True, help="output folder for the PNGs")
    parser.add_argument("--resize-size", type=positive_int,
                        help="resize images' shorter side to this before the centre crop (default: "
                        "the model's, from this project's server; the input size otherwise)")
    _add_image_files(parser)


def _add_actions(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action in ACTIONS:
        action.add_to(actions)


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
    """top-k labels of image files"""
    from zfnet_tf.serving.client import classify_image_files

    with _client(args) as client:
        results = _failing_to_value_error(lambda: classify_image_files(client, args.images, args.top))
    for path, top in zip(args.images, results):
        print(path)
        for rank, (label, probability) in enumerate(top, 1):
            print(f"  {rank}. {label}  {probability:.4f}")
    return 0


def run_layers(args: argparse.Namespace) -> int:
    """the layers the served model projects (its project_<key> signatures)"""
    with _client(args) as client:
        keys = _failing_to_value_error(client.projectable_layers)
    for key in keys:
        print(key)
    return 0


def run_project(args: argparse.Namespace) -> int:
    """deconvnet projections of a layer, saved as PNGs"""
    from zfnet_tf.serving.client import project_image_files

    with _client(args) as client:
        results = _failing_to_value_error(
            lambda: project_image_files(
                client, args.images, args.layer, args.feature, args.out, args.resize_size, args.mode
            )
        )
    for result in results:
        row, col = result["location"]
        print(
            f"{result['image']}: {result['layer']} feature {result['feature']} "
            f"(activation {result['activation']:.4g} at row {row}, column {col}) -> {result['projection']}"
        )
    return 0


ACTIONS = (
    Command("classify", _add_classify_flags, run_classify),
    Command("layers", _add_connection_flags, run_layers),
    Command("project", _add_project_flags, run_project),
)
COMMANDS = (
    Command("client", _add_actions,
            doc="ask a model server (zfnet-tf serve or tensorflow_model_server) about images"),
)
