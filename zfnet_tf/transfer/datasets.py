"""The images a transfer experiment draws its splits from: Caltech-101/256, folders, digits.

An `ImageCollection` is the whole labelled pool (every image once, in a fixed order), not a
train/test split: the paper's protocol draws its own random splits from it (`splits.py`), and
features are extracted once for the whole pool (`features.py`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import tensorflow as tf

from zfnet_tf.data import list_image_folder
from zfnet_tf.data.datasets import resize_to_square

TRANSFER_DATASETS = ("caltech101", "caltech256", "folder", "digits")

# Caltech-101's archive has 102 folders: the 101 object classes and BACKGROUND_Google, a set of
# unrelated Google images. The paper reports a 101-class task ("Caltech-101", Table 4, following
# Fei-Fei et al.'s protocol), so the background folder is not a class unless asked for.
CALTECH101_FOLDER = "101_ObjectCategories"
CALTECH101_BACKGROUND = "BACKGROUND_Google"
CALTECH101_TFDS = "caltech101"
# Caltech-256: 256 object classes and `257.clutter`, a background set the paper leaves out.
CALTECH256_FOLDER = "256_ObjectCategories"
CALTECH256_CLUTTER = "257.clutter"


@dataclass(frozen=True)
class ImageCollection:
    """A labelled pool of images in a fixed order.

    Attributes:
        dataset: where it came from ("caltech101", "caltech256", "folder", "digits").
        names: one stable name per image, `class/file` (what exclude lists refer to).
        labels: int32 class index per image.
        class_names: the classes, indexed by label.
        sources: per image, a file path or (if `encoded`) the encoded JPEG/PNG bytes.
        encoded: whether `sources` holds image bytes instead of paths.
        excluded: how many images the exclude list removed.
        unmatched_exclusions: exclude-list entries that named no image of the pool
            (usually a typo, or a class-name spelling of another source).
        source: a short human description (folder path or TFDS name).
    """

    dataset: str
    names: tuple[str, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]
    sources: tuple
    encoded: bool
    excluded: int = 0
    unmatched_exclusions: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels, np.int32)
        object.__setattr__(self, "labels", labels)
        if not (len(self.names) == len(labels) == len(self.sources)):
            raise ValueError(
                f"ImageCollection needs one name, label and source per image; got "
                f"{len(self.names)}, {len(labels)}, {len(self.sources)}"
            )
        if len(labels) == 0:
            raise ValueError(f"the {self.dataset} image collection ({self.source}) is empty")
        if labels.min() < 0 or labels.max() >= len(self.class_names):
            raise ValueError(f"labels must be in [0, {len(self.class_names)})")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def fingerprint(self) -> str:
        """A digest of the pool's identity (names, labels, classes), for cache keys."""
        digest = hashlib.sha256()
        digest.update(self.dataset.encode())
        for name in self.class_names:
            digest.update(b"\0class\0" + name.encode())
        for name in self.names:
            digest.update(b"\0" + name.encode())
        digest.update(self.labels.tobytes())
        return digest.hexdigest()

    def images(
        self, indices: Sequence[int], image_size: int, resize_size: int | None = None
    ) -> tf.data.Dataset:
        """The images at `indices`, in that order: float32 `[S, S, 3]` RGB 0-255, un-augmented
        (smaller side resized to `resize_size`, default `image_size`; centre `image_size`
        square: `resize_to_square`)."""
        sources = [self.sources[int(i)] for i in indices]
        if not sources:
            raise ValueError("no images selected")
        read = (lambda source: source) if self.encoded else tf.io.read_file
        dataset = tf.data.Dataset.from_tensor_slices(tf.constant(sources, tf.string))
        return dataset.map(
            lambda source: resize_to_square(
                tf.io.decode_image(read(source), channels=3, expand_animations=False),
                image_size,
                resize_size,
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )

    def labelled_images(
        self, indices: Sequence[int], image_size: int, resize_size: int | None = None
    ) -> tf.data.Dataset:
        """`images(indices)` zipped with their int32 labels."""
        labels = tf.data.Dataset.from_tensor_slices(self.labels[np.asarray(indices, np.int64)])
        return tf.data.Dataset.zip((self.images(indices, image_size, resize_size), labels))

    def check_decodable(self, indices: Iterable[int]) -> None:
        """Raises ValueError naming the first image among `indices` that does not decode."""
        for index in indices:
            source = self.sources[int(index)]
            what = self.names[int(index)] if self.encoded else source
            try:
                data = source if self.encoded else tf.io.read_file(source)
                tf.io.decode_image(data, channels=3, expand_animations=False)
            except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
                raise ValueError(
                    f"cannot decode image {what}: {error.message.splitlines()[0]}"
                ) from None

    def replace(self, **changes) -> "ImageCollection":
        return dataclasses.replace(self, **changes)


def read_name_list(path: str | os.PathLike) -> list[str]:
    """An exclude file: one image name a line (`class/file` or a bare file name); blank lines
    and lines starting with `#` are skipped."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"exclude file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle]
    return [line.replace("\\", "/") for line in lines if line and not line.startswith("#")]


def _unmatched(exclusions: Iterable[str], names: Sequence[str]) -> tuple[str, ...]:
    known = set(names) | {name.rsplit("/", 1)[-1] for name in names}
    return tuple(sorted(e for e in set(exclusions) if e not in known))


def collection_from_folder(
    root: str | os.PathLike,
    dataset: str = "folder",
    exclude_classes: Iterable[str] = (),
    exclude_files: Iterable[str] = (),
) -> ImageCollection:
    """Every image of `root/<class>/<file>` (sorted), less the excluded classes and files."""
    root = os.fspath(root)
    exclude_classes = tuple(exclude_classes)
    exclude_files = tuple(exclude_files)
    paths, labels, class_names = list_image_folder(root, exclude_classes, exclude_files)
    excluded, unmatched = 0, ()
    if exclude_files:
        all_paths, _, _ = list_image_folder(root, exclude_classes)
        excluded = len(all_paths) - len(paths)
        unmatched = _unmatched(exclude_files, [_relative_name(root, p) for p in all_paths])
    return ImageCollection(
        dataset=dataset,
        names=tuple(_relative_name(root, p) for p in paths),
        labels=np.asarray(labels, np.int32),
        class_names=tuple(class_names),
        sources=tuple(paths),
        encoded=False,
        excluded=excluded,
        unmatched_exclusions=unmatched,
        source=root,
    )


def _relative_name(root: str, path: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def collection_from_tfds_caltech101(
    data_dir: str | None,
    include_background: bool = False,
    exclude_files: Iterable[str] = (),
) -> ImageCollection:
    """Caltech-101 from TensorFlow Datasets: its `train` and `test` splits pooled (TFDS's own
    fixed 30-a-class split is not the paper's protocol, which draws 5 random splits).

    Images stay encoded in memory (about 130 MB) and decode when features are extracted.
    TFDS names classes in lower case (`faces_easy`), so exclude entries match case-insensitively.
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder(CALTECH101_TFDS, data_dir=data_dir)
    builder.download_and_prepare()
    label_names = list(builder.info.features["label"].names)
    excluded_labels = set() if include_background else {CALTECH101_BACKGROUND.lower()}
    kept_labels = [name for name in label_names if name not in excluded_labels]
    new_label = {label_names.index(name): index for index, name in enumerate(kept_labels)}
    exclusions = {e.lower() for e in exclude_files}

    records = []  # (name, label, bytes)
    all_names = []
    for split in ("train", "test"):
        dataset = builder.as_dataset(
            split=split, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()}
        )
        for example in dataset.as_numpy_iterator():
            label = int(example["label"])
            if label not in new_label:
                continue
            file_name = example["image/file_name"].decode()
            name = f"{label_names[label]}/{file_name}"
            all_names.append(name)
            if name.lower() in exclusions or file_name.lower() in exclusions:
                continue
            records.append((name, new_label[label], example["image"]))
    records.sort(key=lambda record: record[0])  # independent of TFDS's file order
    return ImageCollection(
        dataset="caltech101",
        names=tuple(r[0] for r in records),
        labels=np.asarray([r[1] for r in records], np.int32),
        class_names=tuple(kept_labels),
        sources=tuple(r[2] for r in records),
        encoded=True,
        excluded=len(all_names) - len(records),
        unmatched_exclusions=_unmatched(exclusions, [n.lower() for n in all_names]),
        source=f"tfds:{CALTECH101_TFDS}",
    )


def collection_from_digits() -> ImageCollection:
    """scikit-learn's embedded handwritten digits (all 1,797, 10 classes) as PNG bytes: a
    transfer task that needs no download."""
    from zfnet_tf.data.datasets import digits_arrays

    images, labels = zip(*(digits_arrays(split) for split in ("train", "test")))
    images = np.concatenate(images)
    labels = np.concatenate(labels)
    order = np.lexsort((np.arange(len(labels)), labels))
    encoded, names = [], []
    for rank, index in enumerate(order):
        encoded.append(tf.io.encode_png(images[index][..., None]).numpy())
        names.append(f"{labels[index]}/digit_{rank:04d}.png")
    return ImageCollection(
        dataset="digits",
        names=tuple(names),
        labels=labels[order],
        class_names=tuple(str(d) for d in range(10)),
        sources=tuple(encoded),
        encoded=True,
        source="scikit-learn digits",
    )


def _folder_or_parent(data_dir: str, folder_name: str) -> str | None:
    """`data_dir` itself if it is named `folder_name`, or `data_dir/folder_name` if present."""
    data_dir = os.path.normpath(data_dir)
    if os.path.basename(data_dir) == folder_name and os.path.isdir(data_dir):
        return data_dir
    candidate = os.path.join(data_dir, folder_name)
    return candidate if os.path.isdir(candidate) else None


def load_image_collection(
    dataset: str,
    data_dir: str | None = None,
    exclude_file: str | None = None,
    include_background: bool = False,
) -> ImageCollection:
    """The labelled pool of a transfer dataset.

    Args:
        dataset: "caltech101": a local `101_ObjectCategories/` folder if `data_dir` is (or
            contains) one, else TFDS `caltech101` with `data_dir` as the TFDS data dir;
            "caltech256": a local `256_ObjectCategories/` folder (`257.clutter` left out);
            "folder": any folder of class sub-folders; "digits": the embedded digits.
        data_dir: see `dataset`.
        exclude_file: optional file of image names to leave out (e.g. images that also occur
            in ImageNet, as the paper did for Caltech-256).
        include_background: count Caltech-101's BACKGROUND_Google as a 102nd class.
    """
    if dataset not in TRANSFER_DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {TRANSFER_DATASETS}")
    if include_background and dataset != "caltech101":
        raise ValueError("include_background applies to caltech101 only")
    exclusions = read_name_list(exclude_file) if exclude_file else []
    if dataset == "digits":
        if exclusions:
            raise ValueError("an exclude file does not apply to the embedded digits")
        return collection_from_digits()
    if dataset == "caltech101":
        folder = _folder_or_parent(data_dir, CALTECH101_FOLDER) if data_dir else None
        if folder is None:
            return collection_from_tfds_caltech101(data_dir, include_background, exclusions)
        skip = () if include_background else (CALTECH101_BACKGROUND,)
        return collection_from_folder(folder, dataset, skip, exclusions)
    if data_dir is None:
        raise ValueError(f"dataset {dataset!r} needs data_dir")
    if dataset == "caltech256":
        folder = _folder_or_parent(data_dir, CALTECH256_FOLDER)
        if folder is None:
            raise ValueError(
                f"no {CALTECH256_FOLDER}/ folder at {data_dir} (give the folder or its parent)"
            )
        return collection_from_folder(folder, dataset, (CALTECH256_CLUTTER,), exclusions)
    return collection_from_folder(data_dir, dataset, (), exclusions)
