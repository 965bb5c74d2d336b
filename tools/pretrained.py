"""Import imgclsmob's ImageNet ZFNet as a .keras file: the same flags and call as
`zfnet-tf pretrained`.

    python tools/pretrained.py zfnet --out zfnet.keras
    python tools/pretrained.py zfnetb --out zfnetb.keras --weights zfnetb-1490-f6bec24e.pth
"""

import sys

from zfnet_tf.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["pretrained", *sys.argv[1:]]))
