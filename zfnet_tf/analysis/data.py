"""What an analysis reads: arrays, a `tf.data.Dataset` or a dataset name, made one thing.

`analysis_data` is the one place the analyses turn what they are given into images at the
model's input size: a dataset name goes to `zfnet_tf.data` (its loaders own the datasets), so a
change there touches this function only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence, Union

import keras
import numpy as np
import tensorflow as tf

from zfnet_tf.data import DataSource, data_record
from zfnet_tf.progress import keras_verbose


@dataclass(frozen=True)
class AnalysisData:
    """Images (with labels, when known) at a model's input size, however they were given.

    Attributes:
        dataset: unbatched `(image float32 [S, S, 3] RGB 0-255, label int32)` when `labelled`,
            else images alone.
        labelled: whether the elements carry labels.
        num_examples: how many elements (None when unknown).
        class_names: the names of the labels, when the data has them.
        image_names: a name per image (files, "digits[test][3]").
        source: what the data is, for the JSON ("digits[test]", "arrays", "tf.data.Dataset").
        report: for a dataset read by name, `zfnet_tf.data.LoadedData.report()`: where it was
            read from, how many images, the files excluded and skipped (each with its reason).
        boxes: `{part: int [N, 4]}` boxes (top, left, bottom, right) in input pixels of each
            image, for the correspondence (Table 1); `part_boxes` reads them from a box file.
    """

    dataset: tf.data.Dataset
    labelled: bool
    num_examples: int | None = None
    class_names: tuple[str, ...] | None = None
    image_names: tuple[str, ...] | None = None
    source: str = "arrays"
    report: Mapping | None = None
    boxes: Mapping[str, np.ndarray] | None = None

    @classmethod
    def from_arrays(
        cls,
        images,
        labels=None,
        image_names: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
        source: str = "arrays",
        boxes: Mapping[str, np.ndarray] | None = None,
    ) -> "AnalysisData":
        """Images `[N, S, S, 3]` (RGB 0-255), optional int labels `[N]` and part boxes
        `{part: int [N, 4]}`."""
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must have shape [N, S, S, 3] (RGB 0-255), got {images.shape}")
        if images.shape[0] == 0:
            raise ValueError("images is empty")
        count = images.shape[0]
        if image_names is not None and len(image_names) != count:
            raise ValueError(f"image_names has {len(image_names)} names for {count} images")
        names = (as_names(class_names), as_names(image_names), source, None, boxes)
        if labels is None:
            return cls(tf.data.Dataset.from_tensor_slices(images), False, count, *names)
        labels = np.asarray(labels)
        if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be {count} class indices, got {labels.tolist()}")
        return cls(tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32))), True, count, *names)

    def take(self, limit: int | None) -> "AnalysisData":
        """The first `limit` examples (all when None)."""
        if limit is None or (self.num_examples is not None and limit >= self.num_examples):
            return self
        names = None if self.image_names is None else self.image_names[:limit]
        count = limit if self.num_examples is None else min(limit, self.num_examples)
        boxes = None if self.boxes is None else {part: b[:limit] for part, b in self.boxes.items()}
        return dataclasses.replace(self, dataset=self.dataset.take(limit), num_examples=count, image_names=names,
                                   boxes=boxes)

    def batches(self, batch_size: int, progress: bool = False, description: str = "") -> Iterator[tuple[tf.Tensor, tf.Tensor | None]]:
        """`(images float32 [B, S, S, 3], labels int32 [B] or None)`, with a Keras `Progbar`
        when `progress` (the one way the analyses show progress)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        bar = None
        if progress:
            if description:
                print(description)
            target = None if self.num_examples is None else math.ceil(self.num_examples / batch_size)
            bar = keras.utils.Progbar(target, unit_name="batch", verbose=keras_verbose())
        seen = 0
        for batch in self.dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE):
            images, labels = batch if self.labelled else (batch, None)
            seen += 1
            yield tf.cast(images, tf.float32), (None if labels is None else tf.cast(labels, tf.int32))
            if bar is not None:
                bar.update(seen)
        if seen == 0:
            raise ValueError(f"the data ({self.source}) has no images")

    def arrays(self) -> tuple[np.ndarray, np.ndarray | None]:
        """All images `[N, S, S, 3]` and labels `[N]` (or None) as arrays."""
        images, labels = [], []
        for batch_images, batch_labels in self.batches(256):
            images.append(batch_images.numpy())
            if batch_labels is not None:
                labels.append(batch_labels.numpy())
        return np.concatenate(images), (np.concatenate(labels) if labels else None)

    def summary(self) -> dict:
        """The JSON record of the data an analysis read (`zfnet_tf.data.data_record`): for a
        dataset read by name the data layer's report, else what the data is and how many."""
        return dict(self.report) if self.report is not None else data_record(self.source, self.num_examples)


Data = Union[AnalysisData, DataSource, str, np.ndarray, tf.data.Dataset, tuple]


def analysis_data(data: Data, model: keras.Model, split: str = "test") -> AnalysisData:
    """`data` as `AnalysisData` at `model`'s input size.

    Args:
        data: an `AnalysisData` (returned as is); a dataset name or a `zfnet_tf.data.DataSource`
            (read by `zfnet_tf.data.load_data` through the model's evaluation transform,
            `zfnet_tf.models.image_transform`, unreadable files skipped and reported); a `tf.data.Dataset` of unbatched images or
            `(image, label)` pairs; images `[N, S, S, 3]`; or a tuple `(images, labels)`.
        model: the model the images are for.
        split: the split of a bare dataset name.
    """
    from zfnet_tf.models import image_transform

    size, resize_size = image_transform(model)
    if isinstance(data, AnalysisData):
        result = data
    elif isinstance(data, (str, DataSource)):
        from zfnet_tf.data import load_data

        source = DataSource(data, split=split) if isinstance(data, str) else data
        loaded = load_data(source, size, resize_size)
        name = f"{source.name}[{source.split}]"
        result = AnalysisData(
            loaded.dataset, True, loaded.num_examples, as_names(loaded.class_names),
            tuple(f"{name}[{i}]" for i in range(loaded.num_examples)), name, loaded.report(),
        )
    elif isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        labelled = isinstance(spec, tuple)
        if labelled and len(spec) != 2:
            raise ValueError(f"a dataset's elements must be images or (image, label) pairs, got {spec}")
        count = int(data.cardinality().numpy())
        result = AnalysisData(data, labelled, count if count >= 0 else None, source="tf.data.Dataset")
    elif isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"give images or a tuple (images, labels), got a tuple of {len(data)}")
        result = AnalysisData.from_arrays(*data)
    else:
        result = AnalysisData.from_arrays(data)
    _check_size(result, size)
    return result


def _check_size(data: AnalysisData, size: int) -> None:
    spec = data.dataset.element_spec
    image = spec[0] if data.labelled else spec
    if image.shape.rank != 3 or tuple(image.shape) not in {(size, size, 3), (None, None, 3)}:
        raise ValueError(
            f"the images must be [{size}, {size}, 3] (RGB 0-255) for this model, got "
            f"{image.shape} per image (load them at image_size={size})"
        )


def as_names(values) -> tuple[str, ...] | None:
    """Names (image or class names) as a tuple of str; None stays None."""
    return None if values is None else tuple(str(v) for v in values)
