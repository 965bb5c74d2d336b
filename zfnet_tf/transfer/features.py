"""Frozen layers 1-7 as a feature extractor, with a cache so a whole protocol costs one pass.

The paper keeps layers 1-7 of the ImageNet model fixed and trains only a new softmax (Sec. 5.1),
so every image's features are the same in every split and for every N: they are computed once
for the whole pool and kept in memory, and optionally on disk keyed by the model's weights and
the image list, so that a second run (another C, more splits) computes nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import os

import keras
import numpy as np
import tensorflow as tf

from zfnet_tf.data import ImageCollection
from zfnet_tf.files import atomic_path
from zfnet_tf.models import get_backbone


class FeatureExtractor:
    """The backbone's output (fc7 for Fig. 3; after its dropout, which is off at inference)
    for every image of a collection, in its order.

    `batches_processed` and `images_processed` count what the network actually computed,
    over the extractor's life.

    Args:
        model: a ZFNet classifier or backbone (its weights are only read).
        batch_size: images per forward pass.
    """

    def __init__(self, model: keras.Model, batch_size: int = 64):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.backbone = get_backbone(model)
        self.batch_size = int(batch_size)
        self.batches_processed = 0
        self.images_processed = 0

    @property
    def image_size(self) -> int:
        return self.backbone.config.input_size

    @property
    def feature_layer(self) -> str:
        """The named layer whose (ReLU) output the features are, e.g. "fc7"."""
        return self.backbone.feature_names[-1]

    def model_fingerprint(self) -> str:
        """A digest of the backbone's configuration and weights."""
        digest = hashlib.sha256(
            json.dumps(self.backbone.config.to_dict(), sort_keys=True).encode()
        )
        for weight in self.backbone.weights:
            digest.update(weight.path.encode())
            digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
        return digest.hexdigest()

    def extract(self, collection: ImageCollection) -> np.ndarray:
        """float32 `[len(collection), D]` features, one forward pass over the collection.

        The collection's unreadable files were left out when it was listed; a file that passed
        that check but that TensorFlow cannot decode is a ValueError naming it (rows must stay
        aligned with `collection.names`, so it cannot just be dropped).
        """
        config = self.backbone.config
        images = collection.images(np.arange(len(collection)), config.input_size, config.image_resize_size)
        try:
            features = self.backbone.predict(images.batch(self.batch_size), verbose=0)
        except tf.errors.OpError:
            # tf.data's decoding error does not say which file it was: find it.
            culprit = collection.first_undecodable()
            if culprit is None:
                raise
            raise ValueError(f"cannot decode image {culprit}") from None
        self.batches_processed += math.ceil(len(collection) / self.batch_size)
        self.images_processed += len(collection)
        return np.asarray(features, np.float32)


class FeatureCache:
    """Features by (model weights, image list, input size), in memory and optionally on disk.

    Disk entries are `features-<key>.npz` files under `directory`, written atomically; each
    also stores the image names, checked on load.

    Args:
        directory: where to keep `.npz` files; None keeps features in memory only.
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = None if directory is None else os.fspath(directory)
        self._memory: dict[str, np.ndarray] = {}
        self.last_source = None  # "memory", "disk" or "computed", for the record

    def key(self, extractor: FeatureExtractor, collection: ImageCollection) -> str:
        digest = hashlib.sha256()
        for part in (
            extractor.model_fingerprint(),
            collection.fingerprint(),
            str(extractor.image_size),
            extractor.feature_layer,
        ):
            digest.update(part.encode() + b"\0")
        return digest.hexdigest()[:32]

    def path(self, key: str) -> str | None:
        return None if self.directory is None else os.path.join(self.directory, f"features-{key}.npz")

    def features(self, extractor: FeatureExtractor, collection: ImageCollection) -> np.ndarray:
        """The collection's features: from memory, else from disk, else one forward pass."""
        key = self.key(extractor, collection)
        if key in self._memory:
            self.last_source = "memory"
            return self._memory[key]
        path = self.path(key)
        if path is not None and os.path.isfile(path):
            with np.load(path, allow_pickle=False) as stored:
                if tuple(stored["names"].tolist()) == collection.names:
                    self._memory[key] = stored["features"]
                    self.last_source = "disk"
                    return self._memory[key]
        features = extractor.extract(collection)
        self._memory[key] = features
        self.last_source = "computed"
        if path is not None:
            with atomic_path(path) as partial:
                np.savez(partial, features=features, names=np.asarray(collection.names))
        return features
