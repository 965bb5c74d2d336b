"""The examples of a listed source, one by one: `ImageCollection` and `image_collection`.

Digits, folders and Caltech-101/256 are listed before anything is decoded: every example's
name (`class/file`), label and where its pixels are (a file, encoded bytes, or an array), in a
fixed order. The listing is where exclude lists apply, where splits are drawn, and where files
that are not readable images are found (`zfnet_tf.data.checks`). `load_data` makes a
`tf.data` pipeline of it; the transfer protocol draws its own splits from the split "all".
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import tensorflow as tf

from zfnet_tf.data import catalog
from zfnet_tf.data.augmentation import resize_to_square
from zfnet_tf.data.catalog import DataSource
from zfnet_tf.data.checks import SkippedFile, check_images
from zfnet_tf.data.folders import list_image_folder, match_exclusions, read_name_list
from zfnet_tf.data.splits import make_split

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
        """What was read, for a command's JSON: the source, the number of images, and the
        files left out (excluded by name, or skipped as unreadable, each with its reason)."""
        return data_report(self.source, len(self), self.origin, self.skipped, self.excluded, self.unmatched_exclusions)

    def replace(self, **changes) -> "ImageCollection":
        return dataclasses.replace(self, **changes)


def data_report(
    source: DataSource | None,
    num_examples: int | None,
    origin: str,
    skipped: Sequence[SkippedFile] = (),
    excluded: int = 0,
    unmatched_exclusions: Sequence[str] = (),
) -> dict:
    """The JSON record of the data a command read (`source` None: images given as arrays)."""
    return {
        "dataset": "arrays" if source is None else source.name,
        "split": None if source is None else source.split,
        "data_dir": None if source is None else source.data_dir,
        "origin": origin,
        "num_examples": num_examples,
        "excluded_images": excluded,
        "unmatched_exclusions": list(unmatched_exclusions),
        "skipped_files": len(skipped),
        "skipped": [s.to_json() for s in skipped],
    }


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
    if source.name not in catalog.POOLED_DATASETS:
        raise ValueError(
            f"dataset {source.name!r} streams from TFDS and is not listed image by image; "
            f"these are: {catalog.POOLED_DATASETS}"
        )
    if source.name == "voc2012":  # listed per VOC image set, with its objects
        from zfnet_tf.data.voc import voc_images

        return voc_images(source).collection
    pool = _listing(source)
    if source.exclude_file:
        excluded, unmatched = match_exclusions(pool.names, read_name_list(source.exclude_file))
        pool = pool.subset(np.flatnonzero(~np.asarray(excluded, bool))).replace(
            excluded=int(sum(excluded)), unmatched_exclusions=unmatched
        )
    chosen = pool.subset(_split_indices(source, pool))
    if chosen.kind == "pixels":
        return chosen if source.limit is None else chosen.subset(np.arange(min(source.limit, len(chosen))))
    shown = chosen.names if chosen.kind == "bytes" else chosen.sources
    usable, skipped = check_images(
        chosen.sources, shown, strict=source.strict, limit=source.limit,
        what=f"{source.name}[{source.split}] ({chosen.origin})", max_pixels=source.max_image_pixels,
    )
    return chosen.subset(usable).replace(skipped=tuple(skipped))


def _listing(source: DataSource) -> ImageCollection:
    """Every example the source's split is drawn from."""
    if source.name == "digits":
        images, labels, _ = catalog.digits_pixels()
        names = tuple(f"{label}/digit_{index:04d}" for index, label in enumerate(labels))
        return ImageCollection(source, names, labels, catalog.class_names(source), images, "scikit-learn digits")
    folder, excluded_classes = catalog.local_folder(source)
    if folder is None:
        return _tfds_caltech101(source)
    roots = catalog.folder_roots(folder, source.split) if source.name == "folder" else [folder]
    class_names = catalog.class_names(source)
    paths, labels = [], []
    for root in roots:
        root_paths, root_labels, _ = list_image_folder(root, excluded_classes)
        paths += root_paths
        labels += root_labels
    # Names relative to the class folders' root; with two split folders, relative to both's parent.
    base = folder if len(roots) > 1 else roots[0]
    names = tuple(os.path.relpath(p, base).replace(os.sep, "/") for p in paths)
    return ImageCollection(source, names, labels, class_names, tuple(paths), ", ".join(roots))


def _split_indices(source: DataSource, pool: ImageCollection) -> np.ndarray:
    if source.split == "all" or source.name == "folder":  # a folder's split is its sub-folder
        return np.arange(len(pool))
    if source.name == "digits":
        _, _, splits = catalog.digits_pixels()
        # Digits listed in the pool (all of them: exclusions do not apply to digits).
        return splits[source.split]
    split = make_split(
        pool.labels, catalog.CALTECH_TRAIN_PER_CLASS[source.name], None, source.seed,
        pool.class_names, short_classes="fewer",
    )
    return split.train if source.split == "train" else split.test


def _tfds_caltech101(source: DataSource) -> ImageCollection:
    """Caltech-101 from TensorFlow Datasets: its `train` and `test` splits pooled, in name order.

    Images stay encoded in memory (about 130 MB) and decode when read. TFDS names classes in
    lower case (`faces_easy`).
    """
    import tensorflow_datasets as tfds

    builder = catalog.prepared_tfds_builder("caltech101", source.data_dir)
    label_names, kept = catalog.tfds_caltech101_classes(source)
    new_label = {label_names.index(name): index for index, name in enumerate(kept)}
    records = []  # (name, label, bytes)
    for split in ("train", "test"):
        dataset = builder.as_dataset(
            split=split, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()}
        )
        for example in dataset.as_numpy_iterator():
            label = int(example["label"])
            if label in new_label:
                name = f"{label_names[label]}/{example['image/file_name'].decode()}"
                records.append((name, new_label[label], example["image"]))
    records.sort(key=lambda record: record[0])  # independent of TFDS's file order
    names, labels, images = zip(*records) if records else ((), (), ())
    return ImageCollection(source, names, labels, tuple(kept), images, "tfds:caltech101")
