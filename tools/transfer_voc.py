"""PASCAL VOC 2012 classification with the paper's Table 6 protocol: the same flags and call as
`zfnet-tf transfer --dataset voc2012`.

    python tools/transfer_voc.py --model model.keras --data-dir ~/data/VOCdevkit --out transfer_voc2012
"""

import sys

from zfnet_tf.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["transfer", "--dataset", "voc2012", *sys.argv[1:]]))
