"""`zfnet-tf pretrained`: imgclsmob's published ImageNet ZFNets as a zfnet-tf `.keras` file."""

from __future__ import annotations

import argparse

from zfnet_tf.config import PRETRAINED_PRESETS, pretrained_preset


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "pretrained",
        help="import imgclsmob's ImageNet-trained ZFNet (pytorchcv weights) as a .keras file",
        description="Fetches the published PyTorch weights through pytorchcv's model store (or "
        "reads --weights), converts them exactly and writes a .keras model with the 1000 "
        "ImageNet class names. zfnet: Fig. 3, 39.79/17.27 top-1/top-5 error; zfnetb: layers "
        "3-5 at 512-1024-512 maps, 36.37/14.90. Needs: pip install 'zfnet-tf[pretrained]'.",
    )
    parser.add_argument("name", metavar="{" + ",".join(PRETRAINED_PRESETS) + "}", help="which network")
    parser.add_argument("--out", required=True, help="the .keras file to write")
    parser.add_argument("--weights", metavar="FILE",
                        help="a local state dict (.pth) of that network instead of the download")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zfnet_tf.pytorch_weights import read_torch_weights

    pretrained_preset(args.name)
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
          f"{model.num_classes} ImageNet classes")
    return 0
