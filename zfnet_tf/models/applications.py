"""keras.applications networks as classifiers that take what ZFNet takes: RGB 0-255 pixels.

Each keras.applications family expects its own `preprocess_input` (Caffe's BGR mean
subtraction for VGG and ResNet, [-1, 1] for Inception and MobileNet, ImageNet mean and std for
DenseNet) applied *outside* the model. A served or projected model must carry it inside, so it
becomes the model's first layer, `preprocess`: a fixed 1x1 `Conv2D` holding exactly the affine
per-pixel map that `preprocess_input` computes (read off the function itself, so no table of
families can go stale). The deconvnet goes through it like any convolution, and projections
land in the RGB pixels the user sees.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable

import keras
import numpy as np

from zfnet_tf.fetching import FetchError, fetching
from zfnet_tf.models.classifier import ImageClassifier


def application_names() -> list[str]:
    """The keras.applications network names (`VGG16`, `ResNet50`, ...)."""
    return sorted(
        name for name in dir(keras.applications) if name[:1].isupper() and callable(getattr(keras.applications, name))
    )


def _preprocess_module(constructor):
    """The public keras.applications module of a constructor (`keras.applications.vgg16`)."""
    return getattr(keras.applications, constructor.__module__.rsplit(".", 1)[-1], None)


def affine_preprocessing(preprocess_input) -> tuple[np.ndarray, np.ndarray]:
    """`(matrix [3, 3], offset [3])` with `preprocess_input(x) == x @ matrix + offset` for
    RGB pixels `x`, read by probing the function; ValueError if it is not such a map."""
    probes = np.concatenate([np.zeros((1, 3)), np.eye(3) * 100.0], axis=0).astype(np.float32)
    outputs = np.asarray(preprocess_input(probes.reshape(1, 4, 1, 3).copy()), np.float32).reshape(4, 3)
    offset = outputs[0]
    matrix = (outputs[1:] - offset) / 100.0
    check = np.random.default_rng(0).uniform(0, 255, (1, 5, 5, 3)).astype(np.float32)
    expected = np.asarray(preprocess_input(check.copy()), np.float32)
    if not np.allclose(check @ matrix + offset, expected, rtol=1e-4, atol=1e-3):
        raise ValueError("this application's preprocess_input is not a per-pixel affine map")
    return matrix, offset


def _note_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def keras_application(
    name: str,
    weights: str | None = None,
    input_size: int = 224,
    num_classes: int | None = None,
    class_names: list[str] | None = None,
    note: Callable[[str], None] | None = None,
) -> keras.Model:
    """keras.applications network `name` as a classifier: RGB 0-255 images in, logits out.

    Args:
        name: e.g. "VGG16", "ResNet50" (`application_names()` lists them).
        weights: "imagenet" (Keras downloads them on first use, on the user's machine), None
            (random initialization) or "auto": ImageNet's when Keras can fetch them (or has
            them cached), else random ones, said in one line to `note` (default: stderr).
        input_size: square input side.
        num_classes: classes of the top layer (1000 for ImageNet weights).
        class_names: saved with the model (ImageNet's when the weights are ImageNet's and none
            are given).
    """
    if name not in application_names():
        raise ValueError(f"unknown keras.applications network {name!r}; known: {application_names()}")
    if weights == "auto":
        try:
            return keras_application(name, "imagenet", input_size, num_classes, class_names)
        except FetchError as error:
            (note or _note_to_stderr)(
                f"note: {error.what} could not be fetched ({error.reason}); using random weights "
                "(weights imagenet insists, none says so)"
            )
            weights = None
    constructor = getattr(keras.applications, name)
    num_classes = 1000 if num_classes is None else int(num_classes)
    if weights == "imagenet" and num_classes != 1000:
        raise ValueError(f"ImageNet weights have 1000 classes, not {num_classes}")
    kwargs = {"weights": weights, "input_shape": (input_size, input_size, 3), "classes": num_classes}
    with fetching(
        f"Keras' ImageNet weights of {name}",
        "run once with network access (Keras keeps them in ~/.keras/models) or use --weights none "
        "(random weights)",
    ) if weights == "imagenet" else contextlib.nullcontext():
        try:
            network = constructor(classifier_activation=None, **kwargs)
        except TypeError:  # applications without the argument
            network = constructor(**kwargs)
    images = keras.Input((input_size, input_size, 3), name="images")
    module = _preprocess_module(constructor)
    x = images
    if module is not None and hasattr(module, "preprocess_input"):
        matrix, offset = affine_preprocessing(module.preprocess_input)
        if not (np.allclose(matrix, np.eye(3)) and np.allclose(offset, 0)):
            preprocess = keras.layers.Conv2D(3, 1, name="preprocess", trainable=False)
            x = preprocess(x)
            preprocess.set_weights([matrix.reshape(1, 1, 3, 3), offset])
    if class_names is None and weights == "imagenet":
        from zfnet_tf.data.sources.imagenet import imagenet_classes

        class_names = list(imagenet_classes().names)
    # ImageNet's evaluation transform: the shorter side to 256/224 of the input, the centre square.
    resize_size = round(input_size * 256 / 224)
    return ImageClassifier(
        images, network(x), name=name.lower(), class_names=class_names, resize_size=resize_size
    )
