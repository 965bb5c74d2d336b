"""Classify images or fetch layer projections from a model server: the same flags and calls
as `zfnet-tf client` (works against `zfnet-tf serve` and `tensorflow_model_server`).

    python tools/serving_client.py classify --model-name zfnet photo.jpg
    python tools/serving_client.py project --protocol grpc --server localhost:8500 \
        --model-name zfnet --layer 5 --out projections photo.jpg
    python tools/serving_client.py layers --model-name vgg16
    python tools/serving_client.py project --model-name vgg16 --layer block5_conv3 --out projections photo.jpg
"""

import sys

from zfnet_tf.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["client", *sys.argv[1:]]))
