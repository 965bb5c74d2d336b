"""`DatasetSource`: the one interface the data layer calls for every dataset it reads.

A source says what a `DataSource` of it must give (`check`), its classes without reading an
example (`class_names`), and its examples: listed sources (`listed`) give every example up
front, by name (`listing`, then `split_indices`: the split rule), and `collection` turns that
into the split's `ImageCollection` (exclusions, the split, the image checks); streamed sources
give a TFDS `stream`. Like tensorflow-datasets' builders, each is registered by name
(`zfnet_tf.data.sources.SOURCES`), and nothing here loads TensorFlow until examples are read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, NamedTuple

import numpy as np

from zfnet_tf.data.checks import check_images
from zfnet_tf.data.folders import match_exclusions, read_name_list

if TYPE_CHECKING:
    import tensorflow as tf

    from zfnet_tf.data.catalog import DataSource
    from zfnet_tf.data.collection import ImageCollection


class Stream(NamedTuple):
    """A streamed split: `(image uint8 [H, W, 3], label)` examples in the source's order, the
    split's size (for a shard: the whole split's) and where it is read from, for people."""

    dataset: "tf.data.Dataset"
    num_examples: int
    origin: str


class DatasetSource:
    """One dataset the project reads (a subclass a dataset, registered by `name`).

    Class attributes:
        name: the dataset's name (`DataSource.name`, one of `zfnet_tf.data.DATASETS`).
        listed: listed example by example (it has the split "all" and can be pooled, e.g. by
            the transfer protocol); else streamed from TFDS.
        data_dir: what `DataSource.data_dir` is for this dataset; None: it takes none (its
            examples ship with the package).
        needs_data_dir: whether a `DataSource` of it must give `data_dir`.
        takes_exclude_file: whether an exclude list of image names applies.
        has_background: whether `DataSource.include_background` applies.
    """

    name: ClassVar[str]
    listed: ClassVar[bool] = True
    data_dir: ClassVar[str | None] = None
    needs_data_dir: ClassVar[bool] = False
    takes_exclude_file: ClassVar[bool] = True
    has_background: ClassVar[bool] = False

    def check(self, source: DataSource) -> None:
        """A ValueError naming what `source` asks that this dataset cannot give (reads nothing)."""
        if source.data_dir is not None and self.data_dir is None:
            raise ValueError(f"dataset {self.name!r} is embedded: it takes no data_dir (got {source.data_dir!r})")
        if source.data_dir is None and self.needs_data_dir:
            raise ValueError(f"dataset {self.name!r} needs data_dir: {self.data_dir}")
        if source.include_background and not self.has_background:
            raise ValueError(f"include_background does not apply to {self.name!r}")
        if source.exclude_file is not None and not self.takes_exclude_file:
            raise ValueError(f"an exclude file does not apply to {self.name!r}")

    def class_names(self, source: DataSource) -> tuple[str, ...]:
        """The classes, indexed by label, read without reading any example."""
        raise NotImplementedError

    # -- listed sources ------------------------------------------------------------------------

    def listing(self, source: DataSource) -> ImageCollection:
        """Every example the source's split is drawn from, in a fixed order, not yet checked."""
        raise NotImplementedError(f"dataset {self.name!r} is streamed, not listed")

    def split_indices(self, source: DataSource, pool: ImageCollection) -> np.ndarray:
        """The split rule: which examples of `pool` (the listing less the excluded names) are
        `source.split`. By default the listing is the split already."""
        return np.arange(len(pool))

    def collection(self, source: DataSource) -> ImageCollection:
        """The split's examples: the listing less the names the exclude file gives, the split
        drawn (before files are checked, so a broken file leaves its own split and moves no
        other image), then, with a warning naming each, less the files that are not readable
        images (with `source.strict`: a ValueError naming the first); at most `source.limit`."""
        pool = without_excluded(source, self.listing(source))
        return readable(source, pool.subset(self.split_indices(source, pool)))

    # -- streamed sources ----------------------------------------------------------------------

    def stream(self, source: DataSource, shard: tuple[int, int] | None = None) -> Stream:
        """The split from TFDS; `shard` `(num_shards, index)`: that worker's share of its files."""
        raise NotImplementedError(f"dataset {self.name!r} is listed, not streamed")


def without_excluded(source: DataSource, pool: ImageCollection) -> ImageCollection:
    """`pool` less the images `source.exclude_file` names (the count and the entries that named
    nothing recorded on it)."""
    if not source.exclude_file:
        return pool
    excluded, unmatched = match_exclusions(pool.names, read_name_list(source.exclude_file))
    return pool.subset(np.flatnonzero(~np.asarray(excluded, bool))).replace(
        excluded=int(sum(excluded)), unmatched_exclusions=unmatched
    )


def readable(source: DataSource, chosen: ImageCollection, what: str | None = None) -> ImageCollection:
    """`chosen` less the files that are not readable images (added to its skipped files), at
    most `source.limit` images (pixels given as an array need no check); `what`: the images,
    in the warning (default: the source's split and their origin)."""
    if chosen.kind == "pixels":
        return chosen if source.limit is None else chosen.subset(np.arange(min(source.limit, len(chosen))))
    shown = chosen.names if chosen.kind == "bytes" else chosen.sources
    usable, skipped = check_images(
        chosen.sources, shown, strict=source.strict, limit=source.limit,
        what=what or f"{source.name}[{source.split}] ({chosen.origin})", max_pixels=source.max_image_pixels,
    )
    return chosen.subset(usable).replace(skipped=chosen.skipped + tuple(skipped))
