"""Training and evaluation pipelines: augmentation, batching, caching and prefetching.

Built on `load_data` (decoded, resized to `resize_size(input_size)`), so every source
(digits, folders, Caltech, TFDS) gets the same paper augmentation (`zfnet_tf.data.augmentation`).
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Iterator

import tensorflow as tf

from zfnet_tf.data.augmentation import center_crop, random_crop_and_flip, resize_size, ten_crops
from zfnet_tf.data.catalog import DataSource
from zfnet_tf.data.collection import as_source
from zfnet_tf.data.datasets import LoadedData, load_data

CROPS = ("center", "ten")
# Enough to mix ImageNet's classes (its files are shuffled too) without holding GBs.
DEFAULT_SHUFFLE_BUFFER = 10_000


@contextlib.contextmanager
def read_to_the_end() -> Iterator[None]:
    """Keras reading data of unknown length (unreadable files are dropped on the way, so a
    folder dataset's length is not known ahead) without its warning that the input "ran out
    of data": such data ends where it ends."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        yield


def _cached(dataset: tf.data.Dataset, cache: bool | str) -> tf.data.Dataset:
    """`cache=True` keeps decoded images in memory, a path caches them in files there."""
    if cache is True:
        return dataset.cache()
    if cache:
        return dataset.cache(str(cache))
    return dataset


def training_pipeline(
    dataset: tf.data.Dataset,
    input_size: int,
    batch_size: int,
    flip: bool = True,
    augment: bool = True,
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
    cache: bool | str = False,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Endless shuffled batches of `(images [B, S, S, 3], labels [B])` for `fit`.

    `dataset` yields squares of side `resize_size(input_size)` (or larger); each epoch
    reshuffles, and each image is a random `input_size` crop (mirrored half the time when
    `flip`), or the centre crop when `augment` is False. Batches are full
    (`drop_remainder`), so every replica of every step gets the same shape; the caller sets
    `steps_per_epoch`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dataset = _cached(dataset, cache)
    dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    if augment:
        dataset = dataset.map(
            lambda image, label: (random_crop_and_flip(image, input_size, flip), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        dataset = dataset.map(lambda image, label: (center_crop(image, input_size), label))
    dataset = dataset.batch(batch_size, drop_remainder=True, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = seed is not None
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def evaluation_pipeline(
    dataset: tf.data.Dataset,
    input_size: int,
    batch_size: int,
    crops: str = "center",
    cache: bool | str = False,
) -> tf.data.Dataset:
    """Batches in order, each example once: `(images, labels)`.

    `crops="center"`: images `[B, S, S, 3]`, the centre crop. `crops="ten"`: `[B, 10, S, S, 3]`,
    the paper's 4 corners + centre and their mirror images, for averaging predictions.
    """
    if crops not in CROPS:
        raise ValueError(f"crops must be one of {CROPS}, got {crops!r}")
    crop = center_crop if crops == "center" else ten_crops
    dataset = _cached(dataset, cache)
    dataset = dataset.map(
        lambda image, label: (crop(image, input_size), label), num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


@dataclass
class TrainingData:
    """The datasets of one training run and how many steps make an epoch."""

    train: tf.data.Dataset
    validation: tf.data.Dataset
    class_names: tuple[str, ...]
    steps_per_epoch: int
    # Batches of validation each epoch (one pass, or fewer when asked): for reports; `fit`
    # reads `validation` to its end instead (see `make_training_data`).
    validation_steps: int
    num_train_examples: int
    num_validation_examples: int
    loaded: dict[str, LoadedData]

    def report(self) -> dict:
        """The data report of each split read (`LoadedData.report`), by split."""
        return {split: loaded.report() for split, loaded in self.loaded.items()}


def make_training_data(
    source: DataSource | str,
    input_size: int,
    global_batch_size: int,
    flip: bool = True,
    augment: bool = True,
    cache: bool | str = False,
    seed: int | None = None,
    shard: tuple[int, int] | None = None,
    per_worker_batch_size: int | None = None,
    validation_steps: int | None = None,
) -> TrainingData:
    """Training batches (augmented, endless) and validation batches (centre crop) of a dataset.

    `source` names the dataset (its split is ignored): its "train" split trains, its "test"
    split validates (ImageNet's "validation"). An epoch is one pass over the training split at
    `global_batch_size`: `steps_per_epoch = num_examples // global_batch`. `shard` and
    `per_worker_batch_size` build one worker's part of a multi-worker input; the step counts
    stay global, so every worker runs the same number of steps.

    Validation (one worker) is finite: every epoch reads it from its start to its end, so its
    length need not be known (a file that fails the decoder after passing the checks shortens
    it). `validation_steps` keeps only its first batches, the same ones every epoch; give
    `fit` no `validation_steps` of its own: Keras 3 then makes a fresh iterator each epoch
    (with a step count it keeps one iterator for the whole run, and a finite dataset of
    unknown length runs dry in epoch 2).
    """
    source = as_source(source)
    side = resize_size(input_size)
    train = load_data(source.replace(split="train"), side, shard=shard)
    validation = load_data(source.replace(split="test"), side, shard=shard)
    steps_per_epoch = train.num_examples // global_batch_size
    if steps_per_epoch < 1:
        raise ValueError(
            f"batch size {global_batch_size} is larger than the {train.num_examples} training "
            f"examples of {source.name!r}"
        )
    batch = per_worker_batch_size or global_batch_size
    cache_train = cache if not isinstance(cache, str) or not cache else f"{cache}-train"
    cache_validation = cache if not isinstance(cache, str) or not cache else f"{cache}-validation"
    if shard is None:
        validation_batches = evaluation_pipeline(
            validation.dataset, input_size, batch, cache=cache_validation
        )
        one_pass = -(-validation.num_examples // global_batch_size)
        if validation_steps is not None and validation_steps < one_pass:
            validation_batches = validation_batches.take(validation_steps)
        validation_steps = min(validation_steps or one_pass, one_pass)
    else:
        # Workers must agree on the number of steps: full batches of an endless stream.
        validation_batches = training_pipeline(
            validation.dataset, input_size, batch, augment=False, cache=cache_validation, seed=0
        )
        validation_steps = validation_steps or max(1, validation.num_examples // global_batch_size)
    return TrainingData(
        train=training_pipeline(
            train.dataset, input_size, batch, flip=flip, augment=augment, cache=cache_train, seed=seed
        ),
        validation=validation_batches,
        class_names=train.class_names,
        steps_per_epoch=steps_per_epoch,
        validation_steps=validation_steps,
        num_train_examples=train.num_examples,
        num_validation_examples=validation.num_examples,
        loaded={"train": train, "test": validation},
    )


def evaluation_data(
    source: DataSource | str,
    input_size: int,
    batch_size: int,
    crops: str = "center",
    image_resize_size: int | None = None,
) -> tuple[tf.data.Dataset, LoadedData]:
    """`(batches, loaded data)` of a source's split for evaluation (`evaluation_pipeline`).

    Images are resized (smaller side) to `image_resize_size` and cropped to `input_size`; by
    default to `resize_size(input_size)`, as in training (the paper's 256 for 224). A model's
    is `config.resize_size`.
    """
    side = resize_size(input_size) if image_resize_size is None else image_resize_size
    loaded = load_data(source, side)
    return evaluation_pipeline(loaded.dataset, input_size, batch_size, crops=crops), loaded
