"""Import a published ImageNet network (imgclsmob's ZFNets, EfficientNet-Lite0) as a .keras
file: the same flags and call as `zfnet-tf pretrained`.

    python tools/pretrained.py efficientnet_lite0 --out lite0.keras   # offline
    python tools/pretrained.py zfnet --out zfnet.keras
    python tools/pretrained.py zfnetb --out zfnetb.keras --weights zfnetb-1490-f6bec24e.pth
"""

import sys

from zfnet_tf.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["pretrained", *sys.argv[1:]]))
