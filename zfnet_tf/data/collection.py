"""The examples of a listed source, one by one: `ImageCollection` and `image_collection`.

Digits, folders, Caltech-101/256 and VOC are listed before anything is decoded: every
example's name (`class/file`), label and where its pixels are (a file, encoded bytes, or an
array), in a fixed order. The listing is where exclude lists apply, where splits are drawn, and
where files that are not readable images are found (`zfnet_tf.data.checks`); each source does
its part (`zfnet_tf.data.sources`). `load_data` makes a `tf.data` pipeline of it; the transfer
protocol draws its own splits from the split "all".
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import tensorflow as tf

from zfnet_tf.data.augmentation import resize_to_square
from zfnet_tf.data.catalog import POOLED_DATASETS, DataSource
from zfnet_tf.data.checks import SkippedFile
from zfnet_tf.data.records import data_record
from zfnet_tf.data.sources import get_source

@dataclass(frozen=True, eq=False)
class ImageCollection:
    """Labelled images in a fixed order.

    Attributes:
        source: the `DataSource` they were listed for; None for images given as arrays.
        names: one stable name per image, `class/file` (what exclude lists refer to).
        labels: int32 class index per image.
        class_names: the classes, indexed by label.
        sources: per image, a file path or encoded JPEG/PNG bytes; or all images' uint8
            pixels `[N, H, W]` (grey) or `[N, H, W, 3]` in one array.
        origin: where they were read from, for people (a folder, `tfds:caltech101`, ...).
        excluded: how many images the exclude list removed.
        unmatched_exclusions: exclude-list entries that named no image (usually a typo, or
            a class-name spelling of another source).
        skipped: listed files left out because they are not readable images.
    """

    source: DataSource | None
    names: tuple[str, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]
    sources: tuple | np.ndarray
    origin: str = ""
    excluded: int = 0
    unmatched_exclusions: tuple[str, ...] = ()
    skipped: tuple[SkippedFile, ...] = ()

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels, np.int32)
        object.__setattr__(self, "labels", labels)
        if not (len(self.names) == len(labels) == len(self.sources)):
            raise ValueError(
                f"ImageCollection needs one name, label and source per image; got "
                f"{len(self.names)}, {len(labels)}, {len(self.sources)}"
            )
        if len(labels) == 0:
            raise ValueError(f"{self.dataset} ({self.origin}) has no images")
        if labels.min() < 0 or labels.max() >= len(self.class_names):
            raise ValueError(f"labels must be in [0, {len(self.class_names)})")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def dataset(self) -> str:
        """The dataset's name, or "arrays" for images given directly."""
        return "arrays" if self.source is None else self.source.name

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def kind(self) -> str:
        """"pixels" (an array), "bytes" (encoded images) or "files" (paths)."""
        if isinstance(self.sources, np.ndarray):
            return "pixels"
        return "bytes" if isinstance(self.sources[0], bytes) else "files"

    def fingerprint(self) -> str:
        """A digest of the collection's identity (names, labels, classes), for cache keys."""
        digest = hashlib.sha256()
        digest.update(self.dataset.encode())
        for name in self.class_names:
            digest.update(b"\0class\0" + name.encode())
        for name in self.names:
            digest.update(b"\0" + name.encode())
        digest.update(self.labels.tobytes())
        return digest.hexdigest()

    def subset(self, indices: Sequence[int] | np.ndarray) -> "ImageCollection":
        """The images at `indices`, in that order (the counts of exclusions and skips kept)."""
        indices = np.asarray(indices, np.int64)
        sources = self.sources[indices] if self.kind == "pixels" else tuple(self.sources[i] for i in indices)
        return self.replace(
            names=tuple(self.names[i] for i in indices), labels=self.labels[indices], sources=sources
        )

    def images(
        self, indices: Sequence[int], image_size: int, resize_size: int | None = None
    ) -> tf.data.Dataset:
        """The images at `indices`, in that order: float32 `[S, S, 3]` RGB 0-255, un-augmented
        (`resize_to_square(image, image_size, resize_size)`).

        A file that fails to decode here (it passed the listing's check, but TensorFlow's
        decoder disagrees) ends the pass with TensorFlow's error.
        """
        indices = np.asarray(indices, np.int64)
        if indices.size == 0:
            raise ValueError("no images selected")
        if self.kind == "pixels":
            pixels = self.sources[indices]
            dataset = tf.data.Dataset.from_tensor_slices(pixels if pixels.ndim == 4 else pixels[..., None])
            decode = lambda image: tf.image.grayscale_to_rgb(image) if image.shape[-1] == 1 else image  # noqa: E731
        else:
            dataset = tf.data.Dataset.from_tensor_slices(tf.constant([self.sources[i] for i in indices], tf.string))
            read = (lambda item: item) if self.kind == "bytes" else tf.io.read_file
            decode = lambda item: tf.io.decode_image(read(item), channels=3, expand_animations=False)  # noqa: E731
        return dataset.map(
            lambda item: resize_to_square(decode(item), image_size, resize_size),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )

    def labelled_images(
        self, indices: Sequence[int], image_size: int, resize_size: int | None = None
    ) -> tf.data.Dataset:
        """`images(indices)` zipped with their int32 labels."""
        labels = tf.data.Dataset.from_tensor_slices(self.labels[np.asarray(indices, np.int64)])
        return tf.data.Dataset.zip((self.images(indices, image_size, resize_size), labels))

    def first_undecodable(self, indices: Iterable[int] | None = None) -> str | None:
        """The first image among `indices` (default: all) that TensorFlow cannot decode, with
        TensorFlow's reason; None if all decode. Slow (decodes each): for naming the culprit
        after a pipeline failed."""
        if self.kind == "pixels":
            return None
        for index in range(len(self)) if indices is None else indices:
            item = self.sources[int(index)]
            try:
                data = item if self.kind == "bytes" else tf.io.read_file(item)
                tf.io.decode_image(data, channels=3, expand_animations=False)
            except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
                what = self.names[int(index)] if self.kind == "bytes" else item
                return f"{what}: {error.message.splitlines()[0]}"
        return None

    def report(self) -> dict:
        """What was read, for a command's JSON (`zfnet_tf.data.data_record`): the source, the
        number of images, and the files left out (excluded by name, or skipped as unreadable,
        each with its reason); for images given as arrays, their origin and number."""
        return data_record(
            self.origin if self.source is None else self.source, len(self), self.origin, self.skipped,
            self.excluded, self.unmatched_exclusions,
        )

    def replace(self, **changes) -> "ImageCollection":
        return dataclasses.replace(self, **changes)


def as_source(source: DataSource | str) -> DataSource:
    """A `DataSource`, or a dataset name with the defaults (its test split)."""
    return source if isinstance(source, DataSource) else DataSource(source)


def image_collection(source: DataSource | str) -> ImageCollection:
    """The examples of a listed source's split (`zfnet_tf.data.POOLED_DATASETS`), in a fixed
    order, less the excluded names and, with a warning naming each, the files that are not
    readable images (with `source.strict`: a ValueError naming the first).

    A split is drawn from the whole listing before files are checked, so a broken file leaves
    its own split and moves no other image.
    """
    source = as_source(source)
    if source.name not in POOLED_DATASETS:
        raise ValueError(
            f"dataset {source.name!r} streams from TFDS and is not listed image by image; "
            f"these are: {POOLED_DATASETS}"
        )
    return get_source(source.name).collection(source)
