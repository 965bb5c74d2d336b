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


def fit_on_split(
    model: keras.Model,
    collection: ImageCollection,
    split: Split,
    epochs: int,
    learning_rate: float,
    batch_size: int = 32,
) -> keras.Model:
    """Trains every layer of `model` on the split's training images; returns `model`.

    The training images are decoded once and kept in memory as uint8 (30 a class of
    Caltech-101 at 224x224 is about 0.5 GB); the test images are never seen here.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    num_classes = int(model.output.shape[-1])
    if num_classes != collection.num_classes:
        raise ValueError(f"the network has {num_classes} classes, the data {collection.num_classes}")
    images = (
        collection.labelled_images(split.train, *image_transform(model))
        .map(lambda image, label: (tf.cast(tf.round(image), tf.uint8), label))
        .cache()
        .shuffle(len(split.train), seed=split.seed, reshuffle_each_iteration=True)
        .map(
            lambda image, label: (tf.image.random_flip_left_right(tf.cast(image, tf.float32)), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(images, epochs=epochs, shuffle=False, verbose=0)  # shuffled above
    return model


def predict_classes(
    model: keras.Model, collection: ImageCollection, indices: np.ndarray, batch_size: int = 64
) -> np.ndarray:
    """The most probable class of each image at `indices` (un-augmented, centre crop)."""
    batches = collection.images(indices, *image_transform(model)).batch(batch_size)
    # A plain call per batch: `predict` would trace a new function for every network trained.
    return np.concatenate(
        [np.argmax(keras.ops.convert_to_numpy(model(b, training=False)), -1) for b in batches]
    )
