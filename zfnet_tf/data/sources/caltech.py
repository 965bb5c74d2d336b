"""`caltech101` and `caltech256`: Caltech's object categories (Fei-Fei et al. 2004, Griffin et
al. 2007), the paper's transfer datasets (Tables 4-5).

`caltech101` reads a `101_ObjectCategories/` folder (`data_dir` or its child), else TensorFlow
Datasets' `caltech101` (`data_dir`: the TFDS data dir); `BACKGROUND_Google` is not a class.
`caltech256` reads a `256_ObjectCategories/` folder (`data_dir` or its child); `257.clutter` is
not a class. Caltech comes without a train/test split: `train` is a seeded draw of up to 30
(Caltech-101) or 60 (Caltech-256) images a class, `test` the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zfnet_tf.data.folders import folder_or_parent
from zfnet_tf.data.sources.base import DatasetSource
from zfnet_tf.data.sources.folder import class_folder_listing, shared_class_folders

if TYPE_CHECKING:
    import numpy as np

    from zfnet_tf.data.catalog import DataSource
    from zfnet_tf.data.collection import ImageCollection

# Caltech-101's archive has 102 folders: the 101 object classes and BACKGROUND_Google, a set of
# unrelated Google images. The paper (like Fei-Fei et al.) reports a 101-class task.
CALTECH101_FOLDER = "101_ObjectCategories"
CALTECH101_BACKGROUND = "BACKGROUND_Google"
# Caltech-256: 256 object classes and `257.clutter`, a background set the paper leaves out.
CALTECH256_FOLDER = "256_ObjectCategories"
CALTECH256_CLUTTER = "257.clutter"


class CaltechFolder(DatasetSource):
    """A Caltech archive's folder of class folders, less its background class, and the seeded
    split Caltech does not come with."""

    folder: str
    background: str
    # `train` draws this many images a class (the paper's largest N), `test` is the rest.
    train_per_class: int

    def local_folder(self, source: DataSource) -> str | None:
        """The archive's folder at `source.data_dir` (itself or its child); None if absent."""
        return folder_or_parent(source.data_dir, self.folder) if source.data_dir else None

    def excluded_classes(self, source: DataSource) -> tuple[str, ...]:
        return () if source.include_background else (self.background,)

    def class_names(self, source: DataSource) -> tuple[str, ...]:
        return shared_class_folders([self.required_folder(source)], self.excluded_classes(source))

    def listing(self, source: DataSource) -> ImageCollection:
        return class_folder_listing(source, [self.required_folder(source)], self.excluded_classes(source))

    def required_folder(self, source: DataSource) -> str:
        folder = self.local_folder(source)
        if folder is None:
            raise ValueError(f"no {self.folder}/ folder at {source.data_dir} (give the folder or its parent)")
        return folder

    def split_indices(self, source: DataSource, pool: ImageCollection) -> np.ndarray:
        """`train`: a draw of `train_per_class` images a class by `source.seed` (a class with
        fewer: all but one), `test`: the rest of each class."""
        if source.split == "all":
            return super().split_indices(source, pool)
        from zfnet_tf.data.splits import make_split

        split = make_split(
            pool.labels, self.train_per_class, None, source.seed, pool.class_names, short_classes="fewer"
        )
        return split.train if source.split == "train" else split.test


class Caltech256(CaltechFolder):
    name = "caltech256"
    data_dir = f"a {CALTECH256_FOLDER}/ folder or its parent"
    needs_data_dir = True
    folder = CALTECH256_FOLDER
    background = CALTECH256_CLUTTER
    train_per_class = 60


class Caltech101(CaltechFolder):
    """The archive's folder when `data_dir` holds it, else TFDS `caltech101` (both its splits
    pooled, images kept encoded: about 130 MB; TFDS spells its classes in lower case)."""

    name = "caltech101"
    data_dir = f"a {CALTECH101_FOLDER}/ folder, its parent, or a TFDS data dir"
    has_background = True
    folder = CALTECH101_FOLDER
    background = CALTECH101_BACKGROUND
    train_per_class = 30
    tfds_name = "caltech101"
    offline_remedy = (
        f"give a local {CALTECH101_FOLDER}/ folder (or its parent) as --data-dir, or run once with "
        "network access to let TFDS prepare it"
    )

    def class_names(self, source: DataSource) -> tuple[str, ...]:
        if self.local_folder(source) is None:
            return tuple(self.tfds_classes(source)[1])
        return super().class_names(source)

    def listing(self, source: DataSource) -> ImageCollection:
        if self.local_folder(source) is None:
            return self.tfds_listing(source)
        return super().listing(source)

    def tfds_classes(self, source: DataSource) -> tuple[list[str], list[str]]:
        """TFDS `caltech101`'s label names and the classes kept of them, from its metadata
        (nothing downloaded)."""
        from zfnet_tf.data.tfds import label_names

        names = label_names(self.tfds_name, source.data_dir)
        background = self.background.lower()  # TFDS spells its classes in lower case
        return names, [n for n in names if source.include_background or n != background]

    def tfds_listing(self, source: DataSource) -> ImageCollection:
        """TFDS' `train` and `test` splits pooled, in name order (independent of TFDS' files)."""
        from zfnet_tf.data.collection import ImageCollection
        from zfnet_tf.data.tfds import encoded_examples, prepared_tfds_builder

        builder = prepared_tfds_builder(self.tfds_name, source.data_dir, offline_remedy=self.offline_remedy)
        label_names, kept = self.tfds_classes(source)
        new_label = {label_names.index(name): index for index, name in enumerate(kept)}
        records = []  # (name, label, bytes)
        for example in encoded_examples(builder, ("train", "test")):
            label = int(example["label"])
            if label in new_label:
                name = f"{label_names[label]}/{example['image/file_name'].decode()}"
                records.append((name, new_label[label], example["image"]))
        records.sort(key=lambda record: record[0])
        names, labels, images = zip(*records) if records else ((), (), ())
        return ImageCollection(source, names, labels, tuple(kept), images, f"tfds:{self.tfds_name}")
