"""`load_data`: the one way the project reads a dataset, as an un-augmented `tf.data` pipeline
of (RGB 0-255 image, label) with its class names, its size and what it skipped.

Training pipelines (augmentation, batching), evaluation, the analyses and the transfer
protocol all read data through here (the transfer protocol through `image_collection`, the
same listing without the pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from zfnet_tf.data.augmentation import resize_to_square
from zfnet_tf.data.catalog import DataSource
from zfnet_tf.data.checks import SkippedFile
from zfnet_tf.data.collection import ImageCollection, as_source, image_collection
from zfnet_tf.data.records import data_record
from zfnet_tf.data.sources import get_source


@dataclass(frozen=True, eq=False)
class LoadedData:
    """A data source read as a pipeline.

    Attributes:
        source: what was asked for.
        dataset: unbatched `(image float32 [S, S, 3] RGB 0-255, label int32)`.
        class_names: the classes, indexed by label.
        num_examples: how many examples the split has (for a shard: the whole split's).
        collection: the listed examples (names, files), for listed sources; None for a TFDS
            stream.
        origin: where it was read from, for people.
    """

    source: DataSource
    dataset: tf.data.Dataset
    class_names: tuple[str, ...]
    num_examples: int
    collection: ImageCollection | None = None
    origin: str = ""

    @property
    def skipped(self) -> tuple[SkippedFile, ...]:
        """The listed files left out because they are not readable images."""
        return () if self.collection is None else self.collection.skipped

    def report(self) -> dict:
        """The JSON record of what was read: source, size, files excluded and skipped."""
        if self.collection is not None:
            return self.collection.report()
        return data_record(self.source, self.num_examples, self.origin)


def load_data(
    source: DataSource | str,
    image_size: int = 224,
    resize_size: int | None = None,
    shard: tuple[int, int] | None = None,
) -> LoadedData:
    """Reads a data source as an unbatched pipeline of `(image, label)`.

    Args:
        source: a `DataSource`, or a dataset name (its test split).
        image_size: the side of the output squares.
        resize_size: the side the smaller side is resized to before the centre crop
            (`resize_to_square`; default `image_size`). A model's pair is
            `zfnet_tf.models.image_transform(model)`.
        shard: `(num_shards, index)`: every `num_shards`-th example from `index` on, chosen
            before decoding (TFDS: whole files), for one worker of several. `num_examples`
            stays the size of the whole split.

    Files that are not readable images are skipped with a warning naming each (recorded in
    `report()`), or with `source.strict` are a ValueError naming the first. A file that
    passes that check and still fails TensorFlow's decoder is dropped from the pipeline with
    TensorFlow's log line (a WARNING: shown under `zfnet-tf --verbose`), never ending an epoch (with `strict`, it ends it).
    """
    source = as_source(source)
    if shard is not None and not 0 <= shard[1] < shard[0]:
        raise ValueError(f"shard index must be in [0, {shard[0]}), got {shard[1]}")
    if not get_source(source.name).listed:
        return _streamed(source, image_size, resize_size, shard)
    collection = image_collection(source)
    indices = np.arange(len(collection))
    if shard is not None:
        indices = indices[shard[1] :: shard[0]]
    dataset = collection.labelled_images(indices, image_size, resize_size)
    if collection.kind != "pixels" and not source.strict:
        # Its length is the listing's, less any file the decoder refuses: not known ahead.
        dataset = dataset.ignore_errors(log_warning=True)
    else:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(indices)))
    return LoadedData(source, dataset, collection.class_names, len(collection), collection, collection.origin)


def _streamed(
    source: DataSource, image_size: int, resize_size: int | None, shard: tuple[int, int] | None
) -> LoadedData:
    """A streamed source's split (ImageNet from TFDS), its first `source.limit` examples."""
    dataset_source = get_source(source.name)
    dataset, num_examples, origin = dataset_source.stream(source, shard)
    if source.limit is not None:
        dataset = dataset.take(source.limit)
        num_examples = min(num_examples, source.limit)
    dataset = dataset.map(
        lambda image, label: (resize_to_square(image, image_size, resize_size), tf.cast(label, tf.int32)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return LoadedData(source, dataset, dataset_source.class_names(source), num_examples, origin=origin)
