"""The datasets the project knows, by name, and `DataSource`: which examples of which one.

Each dataset is a source in `zfnet_tf.data.sources` (its table lists them); this module names
them and checks a `DataSource` against its source. Neither this module nor any source module
imports TensorFlow, even in a function (TFDS is read in `zfnet_tf.data.tfds`), so the command
line can offer `DATASETS` as choices and validate a source before anything heavy loads
(tests/data/test_catalog.py holds it to that).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import KW_ONLY, dataclass
from typing import Any

from zfnet_tf.data.headers import DEFAULT_MAX_IMAGE_PIXELS, check_max_pixels
from zfnet_tf.data.sources import SOURCES, get_source

DATASETS = tuple(SOURCES)
# Sources listed one example at a time (names, labels, files known up front): these have the
# split "all" and can be pooled, e.g. by the transfer protocol. The rest stream from TFDS.
POOLED_DATASETS = tuple(name for name, source in SOURCES.items() if source.listed)
SPLITS = ("train", "test", "all")


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
        dataset = get_source(self.name)
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.split == "all" and not dataset.listed:
            raise ValueError(f"dataset {self.name!r} has no split 'all'; it is one of {POOLED_DATASETS}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit}")
        dataset.check(self)
        check_max_pixels(self.max_image_pixels)
        for path in ("data_dir", "exclude_file"):
            if getattr(self, path) is not None:
                object.__setattr__(self, path, os.path.expanduser(os.fspath(getattr(self, path))))

    def replace(self, **changes: Any) -> "DataSource":
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """`name[split]` and where it reads from, for messages."""
        where = f" at {self.data_dir}" if self.data_dir else ""
        return f"{self.name}[{self.split}]{where}"
