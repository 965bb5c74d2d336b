"""`zfnet-tf serve`: TF Serving's REST and gRPC APIs over saved_models/, with its flags."""

from __future__ import annotations

import argparse

from zfnet_tf.cli.command import Command


def add_flags(parser: argparse.ArgumentParser) -> None:
    from zfnet_tf.serving.server import add_server_flags

    add_server_flags(parser)


def run(args: argparse.Namespace) -> int:
    """serve exported SavedModels over TF Serving's REST and gRPC APIs

    A stand-in for tensorflow_model_server taking the same flags, e.g. zfnet-tf serve
    --model_name=zfnet --model_base_path=saved_models/zfnet --rest_api_port=8501 --port=8500
    """
    from zfnet_tf.serving.server import run_server

    return run_server(args)


COMMANDS = (Command("serve", add_flags, run),)
