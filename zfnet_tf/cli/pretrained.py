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
    pretrained_preset(args.name)  # an unknown name fails before TensorFlow loads
    if not args.out.endswith(".keras"):
        raise ValueError(f"--out must end with .keras, got {args.out}")
    from zfnet_tf.models import save_model
    from zfnet_tf.models.pretrained import pretrained

    model = pretrained(args.name, args.weights)
    save_model(model, args.out)
    print(f"wrote {args.out}: {args.name}, {model.count_params():,} parameters, "
          f"{model.num_classes} ImageNet classes")
    return 0
