"""The PyTorch reference for tests/models/test_pretrained.py: run as a script, never imported.

torch and TensorFlow must not share a process (docs/design.md, traps), so the tests run this file with
the venv's Python. For each NAME it builds pytorchcv's network offline with seeded random
weights (biases too, so that every tensor of the state dict matters), saves its state dict with
`torch.save` as FOLDER/NAME.pth, and runs the images through PyTorch's own input normalization
(ToTensor's /255, then Normalize) and the network, saving as FOLDER/NAME.npz the logits and each
layer's output as NHWC arrays, and the state dict's keys and shapes (`state_dict_layout`, lines
"KEY DIM DIM ..."). One process for all the networks asked for: torch loads once.

    python pytorchcv_reference.py IMAGES.npz FOLDER NAME [NAME ...]

IMAGES.npz holds `images`: float32 [N, 224, 224, 3], RGB 0-255.
"""

import os
import sys

import numpy as np
import torch
from pytorchcv.models.zfnet import zfnet, zfnetb

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
LRN_GAINS = (20.0, 4.0)


def main(images_path: str, folder: str, *names: str) -> None:
    images = np.load(images_path)["images"]
    for name in names:
        reference(name, images, os.path.join(folder, f"{name}.pth"), os.path.join(folder, f"{name}.npz"))


def reference(name: str, images: np.ndarray, state_path: str, out_path: str) -> None:
    torch.manual_seed(0)
    net = {"zfnet": zfnet, "zfnetb": zfnetb}[name](pretrained=False).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)) and module.bias is not None:
                module.bias.uniform_(-0.05, 0.05)
        # Larger layer-1 and -2 responses put the response normalization in its non-linear
        # range (alpha * sum x^2 comparable to k, as in a trained network), where its constants
        # and its place before the pool change the outputs; at init scale it is nearly a
        # constant factor.
        for stage, gain in (("stage1", LRN_GAINS[0]), ("stage2", LRN_GAINS[1])):
            conv = getattr(net.features, stage).unit1.conv
            conv.weight.mul_(gain)
            conv.bias.mul_(gain)
    torch.save(net.state_dict(), state_path)
    # What the file holds, as test_pretrained.py's layout check reads it: "KEY DIM DIM ...".
    layout = [" ".join([key, *map(str, value.shape)]) for key, value in net.state_dict().items()]

    # zfnet-tf names of the modules' outputs (pytorchcv's AlexConv applies the LRN itself).
    watched = {
        "stage1.unit1": "norm1", "stage1.pool1": "pool1",
        "stage2.unit1": "norm2", "stage2.pool2": "pool2",
        "stage3.unit1": "conv3", "stage3.unit2": "conv4", "stage3.unit3": "conv5",
        "stage3.pool3": "pool5",
    }
    outputs = {}
    for module_name, module in net.features.named_modules():
        if module_name in watched:
            key = watched[module_name]
            module.register_forward_hook(
                lambda _m, _i, output, key=key: outputs.__setitem__(key, output.permute(0, 2, 3, 1).numpy().copy())
            )
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous() / 255.0
    x = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
    with torch.no_grad():
        outputs["logits"] = net(x).numpy()
    np.savez(out_path, state_dict_layout=np.array(layout), **outputs)


if __name__ == "__main__":
    main(*sys.argv[1:])
