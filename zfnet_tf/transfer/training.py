"""Training the whole network on one split: the paper's from-scratch baseline and fine-tuning.

Table 4/5's "non-pretrained" rows train the same architecture from a random init on the same
few images a class; fine-tuning starts from the transferred classifier instead. Both use the
paper's optimizer (SGD, momentum 0.9) with random horizontal flips, for a given number of epochs.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from zfnet_tf.data import ImageCollection, Split
from zfnet_tf.models import image_transform


class SplitTrainer:
    """Trains a network on split after split, each time from a new start, with one traced
    training step.

    Keras traces a training function for every network it compiles: seconds each, often more
    than a few epochs on a few images a class take. The first start given is compiled and
    kept; each later start (the same architecture: freshly initialized, or another
    transferred head) has its state, weights and dropout seeds alike, copied into it, and the
    optimizer goes back to its state before any step, so that every split trains exactly as
    a new network compiled for it would.

    Args:
        epochs: passes over a split's training images (>= 1).
        learning_rate: SGD's, with momentum 0.9 (paper Sec. 3).
        batch_size: images a step.
    """

    def __init__(self, epochs: int, learning_rate: float, batch_size: int = 32):
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        self.epochs, self.learning_rate, self.batch_size = epochs, learning_rate, batch_size
        self.network: keras.Model | None = None
        self._optimizer_start: list[np.ndarray] = []

    def fit(self, start: keras.Model, collection: ImageCollection, split: Split) -> keras.Model:
        """Trains every layer, from `start`'s state, on the split's training images; returns
        the trained network (`start` itself the first time, the kept network afterwards).

        The training images are decoded once and kept in memory as uint8 (30 a class of
        Caltech-101 at 224x224 is about 0.5 GB); the test images are never seen here.
        """
        num_classes = int(start.output.shape[-1])
        if num_classes != collection.num_classes:
            raise ValueError(f"the network has {num_classes} classes, the data {collection.num_classes}")
        if self.network is None:
            self.network = start
            start.compile(
                optimizer=keras.optimizers.SGD(self.learning_rate, momentum=0.9),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
            start.optimizer.build(start.trainable_variables)
            self._optimizer_start = [keras.ops.convert_to_numpy(v) for v in start.optimizer.variables]
        else:
            self._restart(start)
        network = self.network
        images = (
            collection.labelled_images(split.train, *image_transform(network))
            .map(lambda image, label: (tf.cast(tf.round(image), tf.uint8), label))
            .cache()
            .shuffle(len(split.train), seed=split.seed, reshuffle_each_iteration=True)
            .map(
                lambda image, label: (tf.image.random_flip_left_right(tf.cast(image, tf.float32)), label),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            .batch(self.batch_size)
            .prefetch(tf.data.AUTOTUNE)
        )
        network.fit(images, epochs=self.epochs, shuffle=False, verbose=0)  # shuffled above
        return network

    def _restart(self, start: keras.Model) -> None:
        network = self.network
        shapes = [tuple(v.shape) for v in network.variables]
        if [tuple(v.shape) for v in start.variables] != shapes or image_transform(start) != image_transform(network):
            raise ValueError(f"{start.name} is not the architecture this trainer trains ({network.name})")
        for variable, value in zip(network.variables, start.variables):
            variable.assign(value)
        for variable, value in zip(network.optimizer.variables, self._optimizer_start):
            variable.assign(value)


def predict_classes(
    model: keras.Model, collection: ImageCollection, indices: np.ndarray, batch_size: int = 64
) -> np.ndarray:
    """The most probable class of each image at `indices` (un-augmented, centre crop)."""
    batches = collection.images(indices, *image_transform(model)).batch(batch_size)
    # A plain call per batch: `predict` would trace a new function for every network trained.
    return np.concatenate(
        [np.argmax(keras.ops.convert_to_numpy(model(b, training=False)), -1) for b in batches]
    )
