"""The datasets the project knows, by name, and `DataSource`: which examples of which one.

This module imports no TensorFlow, so the command line can offer `DATASETS` as choices and
validate a source before anything heavy loads.

| name | where the examples come from | splits |
| --- | --- | --- |
| `digits` | scikit-learn's 1,797 handwritten digits, shipped inside the package: no network | a fixed stratified 75% / 25% draw |
| `folder` | `data_dir/<class>/<image>`, or `data_dir/train/...` and `data_dir/val/...` | the split sub-folders, else the same images for both |
| `caltech101` | a `101_ObjectCategories/` folder (`data_dir` or its child), else TensorFlow Datasets' `caltech101` (`data_dir`: the TFDS data dir); `BACKGROUND_Google` is not a class | a seeded draw: up to 30 images a class train, the rest test |
| `caltech256` | a `256_ObjectCategories/` folder (`data_dir` or its child); `257.clutter` is not a class | a seeded draw: up to 60 images a class train, the rest test |
| `imagenet2012` | TensorFlow Datasets' `imagenet2012` (`data_dir`: the manual download folder) | TFDS's train and validation |
| `voc2012` | a VOCdevkit `VOC2012/` folder (`data_dir` or under it), else TFDS' `voc/2012` (`data_dir`: the TFDS data dir); multi-label (`zfnet_tf.data.voc`) | VOC's train, val (as test) and trainval (as all) |

Every source but `imagenet2012` also has the split `all` (every example once, in a fixed
order): the pool the transfer protocol draws its own splits from.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import os
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any

from zfnet_tf.data.headers import DEFAULT_MAX_IMAGE_PIXELS, check_max_pixels

if TYPE_CHECKING:
    import numpy as np

DATASETS = ("digits", "folder", "caltech101", "caltech256", "imagenet2012", "voc2012")
# Sources listed one example at a time (names, labels, files known up front): these have the
# split "all" and can be pooled, e.g. by the transfer protocol. The rest stream from TFDS.
POOLED_DATASETS = ("digits", "folder", "caltech101", "caltech256", "voc2012")
SPLITS = ("train", "test", "all")

# Caltech-101's archive has 102 folders: the 101 object classes and BACKGROUND_Google, a set of
# unrelated Google images. The paper (like Fei-Fei et al.) reports a 101-class task.
CALTECH101_FOLDER = "101_ObjectCategories"
CALTECH101_BACKGROUND = "BACKGROUND_Google"
# Caltech-256: 256 object classes and `257.clutter`, a background set the paper leaves out.
CALTECH256_FOLDER = "256_ObjectCategories"
CALTECH256_CLUTTER = "257.clutter"
# Caltech has no official train/test split; `train` draws this many images a class (the
# paper's largest N for each), `test` is the rest of the class.
CALTECH_TRAIN_PER_CLASS = {"caltech101": 30, "caltech256": 60}

# scikit-learn's digits: 1,797 real 8x8 scans; a fixed stratified split keeps numbers comparable.
DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0

# Sub-folders that hold a folder dataset's splits (`root/train/<class>/...`, `root/val/...`).
FOLDER_SPLIT_NAMES = {"train": ("train",), "test": ("val", "validation", "test")}


@dataclass(frozen=True)
class DataSource:
    """Which examples to read: a dataset, where it is, which split, how many.

    Attributes:
        name: one of `DATASETS`.
        data_dir: the folder of a folder dataset; for `caltech101` its `101_ObjectCategories/`
            folder, that folder's parent, or a TFDS data dir; for `caltech256` its
            `256_ObjectCategories/` folder or that folder's parent; for `imagenet2012` the
            manual download folder (None: TFDS' default).
        split: "train", "test" (ImageNet's validation set) or "all" (every example once; not
            for `imagenet2012`).
        limit: read only the first `limit` usable examples of the split.
        strict: a file that is not a readable image is an error naming it, instead of being
            skipped with a warning that names it.
        exclude_file: a file of image names to leave out, one a line (`class/file` or a bare
            file name; `#` starts a comment), e.g. Caltech images that also occur in ImageNet.
        include_background: `caltech101` only: count `BACKGROUND_Google` as a 102nd class.
        seed: the seed of Caltech's train/test draw.
        max_image_pixels: a listed image of more pixels (width x height, by its header) is
            skipped and named like an unreadable one (with `strict`, an error), not decoded.
    """

    name: str
    data_dir: str | None = None
    _: KW_ONLY  # the rest by name: DataSource("digits", split="train"), never by position
    split: str = "test"
    limit: int | None = None
    strict: bool = False
    exclude_file: str | None = None
    include_background: bool = False
    seed: int = 0
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS

    def __post_init__(self) -> None:
        if self.name not in DATASETS:
            raise ValueError(f"unknown dataset {self.name!r}; choose one of {DATASETS}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.split == "all" and self.name not in POOLED_DATASETS:
            raise ValueError(f"dataset {self.name!r} has no split 'all'; it is one of {POOLED_DATASETS}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit}")
        if self.data_dir is not None:
            if self.name == "digits":
                raise ValueError(f"dataset 'digits' is embedded: it takes no data_dir (got {self.data_dir!r})")
            object.__setattr__(self, "data_dir", os.path.expanduser(os.fspath(self.data_dir)))
        elif self.name in ("folder", "caltech256"):
            raise ValueError(f"dataset {self.name!r} needs data_dir: {_DATA_DIR_NEEDS[self.name]}")
        if self.include_background and self.name != "caltech101":
            raise ValueError("include_background applies to caltech101 only")
        check_max_pixels(self.max_image_pixels)
        if self.exclude_file is not None:
            if self.name in ("digits", "imagenet2012"):
                raise ValueError(f"an exclude file does not apply to {self.name!r}")
            object.__setattr__(self, "exclude_file", os.path.expanduser(os.fspath(self.exclude_file)))

    def replace(self, **changes: Any) -> "DataSource":
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """`name[split]` and where it reads from, for messages."""
        where = f" at {self.data_dir}" if self.data_dir else ""
        return f"{self.name}[{self.split}]{where}"


_DATA_DIR_NEEDS = {
    "folder": "a folder of class sub-folders",
    "caltech256": f"a {CALTECH256_FOLDER}/ folder or its parent",
}


def folder_or_parent(data_dir: str, folder_name: str) -> str | None:
    """`data_dir` itself if it is named `folder_name`, or `data_dir/folder_name` if present."""
    data_dir = os.path.normpath(data_dir)
    if os.path.basename(data_dir) == folder_name and os.path.isdir(data_dir):
        return data_dir
    candidate = os.path.join(data_dir, folder_name)
    return candidate if os.path.isdir(candidate) else None


def folder_roots(data_dir: str, split: str) -> list[str]:
    """The class-folder roots of a folder dataset's split.

    `data_dir/train` for "train" and `data_dir/val` (or `validation`, `test`) for "test" when
    `data_dir` has both a training and an evaluation sub-folder, both of them for "all";
    otherwise `data_dir` itself for every split.
    """
    def first_existing(names):
        return next((os.path.join(data_dir, n) for n in names if os.path.isdir(os.path.join(data_dir, n))), None)

    train, test = first_existing(FOLDER_SPLIT_NAMES["train"]), first_existing(FOLDER_SPLIT_NAMES["test"])
    if not (train and test):
        return [data_dir]
    return {"train": [train], "test": [test], "all": [train, test]}[split]


def class_folders(root: str, exclude: tuple[str, ...] = ()) -> list[str]:
    """The sorted class sub-folders of `root` (hidden ones and `exclude` left out)."""
    if not os.path.isdir(root):
        raise ValueError(f"image folder not found: {root}")
    names = sorted(
        entry.name
        for entry in os.scandir(root)
        if entry.is_dir() and not entry.name.startswith(".") and entry.name not in exclude
    )
    if not names:
        raise ValueError(f"image folder {root} has no class sub-folders")
    return names


def local_folder(source: DataSource) -> tuple[str | None, tuple[str, ...]]:
    """Where a class-folder source reads from and which sub-folders are not classes:
    `(folder, excluded classes)`; `(None, ())` when `caltech101` reads from TFDS instead."""
    if source.name == "caltech101":
        folder = folder_or_parent(source.data_dir, CALTECH101_FOLDER) if source.data_dir else None
        return folder, (() if source.include_background else (CALTECH101_BACKGROUND,))
    if source.name == "caltech256":
        folder = folder_or_parent(source.data_dir, CALTECH256_FOLDER)
        if folder is None:
            raise ValueError(
                f"no {CALTECH256_FOLDER}/ folder at {source.data_dir} (give the folder or its parent)"
            )
        return folder, (CALTECH256_CLUTTER,)
    if source.name == "folder":
        return source.data_dir, ()
    raise ValueError(f"dataset {source.name!r} is not read from a folder")


def class_names(source: DataSource) -> tuple[str, ...]:
    """The classes of a source, indexed by label, without reading any example: from the class
    sub-folders, TFDS' metadata, or the ImageNet class file."""
    if source.name == "digits":
        return tuple(str(digit) for digit in range(10))
    if source.name == "imagenet2012":
        from zfnet_tf.data.imagenet import imagenet_classes

        return imagenet_classes().names
    if source.name == "voc2012":
        from zfnet_tf.data.voc import VOC_CLASSES

        return VOC_CLASSES
    folder, excluded = local_folder(source)
    if folder is None:  # caltech101 from TFDS
        return tuple(tfds_caltech101_classes(source)[1])
    roots = folder_roots(folder, source.split) if source.name == "folder" else [folder]
    names = [tuple(class_folders(root, excluded)) for root in roots]
    if any(other != names[0] for other in names[1:]):
        raise ValueError(f"the split folders {roots} hold different class sub-folders")
    return names[0]


# What to do when TFDS cannot fetch a dataset that is not prepared yet.
_TFDS_OFFLINE_REMEDY = {
    "caltech101": (
        f"give a local {CALTECH101_FOLDER}/ folder (or its parent) as --data-dir, or run once with "
        "network access to let TFDS prepare it"
    ),
}
IMAGENET_ARCHIVES = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")
# TFDS retries a failed download 10 times with growing pauses (minutes without a network).
_TFDS_DOWNLOAD_RETRIES = 3


def prepared_tfds_builder(name: str, data_dir: str | None = None, manual_dir: str | None = None):
    """TFDS' builder of dataset `name` (in the TFDS data dir `data_dir`, default
    `TFDS_DATA_DIR` or `~/tensorflow_datasets`), prepared: on first use from `manual_dir`
    (ImageNet's archives) or by downloading, with a progress line. A download that fails for
    want of a network is a `zfnet_tf.fetching.FetchError` saying what to do instead."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download import downloader

    from zfnet_tf.fetching import fetching
    from zfnet_tf.progress import on_terminal, step

    if not on_terminal():
        tfds.disable_progress_bar()  # its bars are carriage returns and escape codes in a log
    builder = tfds.builder(name, data_dir=data_dir)
    if builder.is_prepared():
        return builder
    where = f"from {manual_dir}" if name == "imagenet2012" else "(downloading)"
    retries = downloader.MAX_RETRIES
    downloader.MAX_RETRIES = min(retries, _TFDS_DOWNLOAD_RETRIES)
    try:
        with step(f"preparing TFDS {name} {where} in {builder.data_dir_root}, once"), fetching(
            f"the TFDS dataset {name}", _TFDS_OFFLINE_REMEDY.get(name, "run once with network access")
        ), contextlib.redirect_stdout(io.StringIO()):  # TFDS' own banner says what `step` says
            builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    except AssertionError as error:  # TFDS' word for a manual folder without the archives
        if "manual" not in str(error).lower():
            raise
        folder = manual_dir or os.path.join(builder.data_dir_root, "downloads", "manual")
        raise ValueError(
            f"{name} is not prepared in {builder.data_dir_root} and {folder} holds neither "
            f"{' nor '.join(IMAGENET_ARCHIVES)}: download them from image-net.org into a folder "
            "and give it as --data-dir"
        ) from None
    finally:
        downloader.MAX_RETRIES = retries
    return builder


def tfds_caltech101_classes(source: DataSource) -> tuple[list[str], list[str]]:
    """TFDS `caltech101`'s label names and the classes kept of them, from its metadata."""
    import tensorflow_datasets as tfds

    names = list(tfds.builder("caltech101", data_dir=source.data_dir).info.features["label"].names)
    background = CALTECH101_BACKGROUND.lower()  # TFDS spells its classes in lower case
    return names, [n for n in names if source.include_background or n != background]


@functools.lru_cache(maxsize=1)
def digits_pixels() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """scikit-learn's embedded handwritten digits: uint8 `[1797, 8, 8]` (its 0-16 ink levels
    scaled to 0-255), int32 labels, and the indices of the fixed train and test splits."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    labels = digits.target.astype(np.int32)
    train, test = train_test_split(
        np.arange(len(labels)),
        test_size=DIGITS_TEST_FRACTION,
        random_state=DIGITS_SPLIT_SEED,
        stratify=labels,
    )
    return images, labels, {"train": train, "test": test}
