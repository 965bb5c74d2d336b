"""Exports for tests: a small plain Keras convnet to export, and what the test files that only
read the session's exports share in one test process (the SavedModel loaded once, and one
`Deconvnet` per model, so a projection traced for one file's reference serves the next
file's)."""

from __future__ import annotations

import functools
import os


def small_convnet(seed: int = 5):
    """A plain Keras convnet on 32x32 RGB, 3 classes (not a ZFNet: its layers have names,
    "edges" and "parts", not the paper's numbers; they are its default projected layers),
    with seeded random weights. Small, so exporting it costs little."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(8, 3, activation="relu", name="edges"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(12, 3, activation="relu", name="parts"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(3, name="logits"),
    ])


@functools.cache
def _loaded(path: str):
    import tensorflow as tf

    return tf.saved_model.load(path)


def loaded_saved_model(path: str | os.PathLike):
    """`tf.saved_model.load(path)`, once per process: for tests that call its signatures and
    change nothing."""
    return _loaded(os.fspath(path))


@functools.cache
def held_deconvnet(model):
    """`zfnet_tf.deconv.shared_deconvnet(model)`, held for the rest of the process (the
    model is a session fixture's): its traced projections outlive the test module."""
    from zfnet_tf.deconv import shared_deconvnet

    return shared_deconvnet(model)
