"""`folder`: a folder of class sub-folders, `data_dir/<class>/<image>`, or its splits in
`data_dir/train/...` and `data_dir/val/...` (else the same images for every split). Also the
class-folder listing Caltech's folders share."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence

from zfnet_tf.data.folders import class_folders, list_image_folder
from zfnet_tf.data.sources.base import DatasetSource

if TYPE_CHECKING:
    from zfnet_tf.data.catalog import DataSource
    from zfnet_tf.data.collection import ImageCollection

# Sub-folders that hold a folder dataset's splits (`root/train/<class>/...`, `root/val/...`).
FOLDER_SPLIT_NAMES = {"train": ("train",), "test": ("val", "validation", "test")}


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


def shared_class_folders(roots: Sequence[str], excluded: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The class sub-folders every one of `roots` holds (a ValueError if they differ)."""
    names = [tuple(class_folders(root, excluded)) for root in roots]
    if any(other != names[0] for other in names[1:]):
        raise ValueError(f"the split folders {list(roots)} hold different class sub-folders")
    return names[0]


def class_folder_listing(
    source: DataSource, roots: Sequence[str], excluded: tuple[str, ...] = ()
) -> ImageCollection:
    """The images of `roots`' class sub-folders (less `excluded` classes), named `class/file`
    relative to the one root, or with two roots relative to their parent (`train/class/file`)."""
    from zfnet_tf.data.collection import ImageCollection

    class_names = shared_class_folders(roots, excluded)
    paths, labels = [], []
    for root in roots:
        root_paths, root_labels, _ = list_image_folder(root, excluded)
        paths += root_paths
        labels += root_labels
    base = os.path.dirname(os.path.normpath(roots[0])) if len(roots) > 1 else roots[0]
    names = tuple(os.path.relpath(p, base).replace(os.sep, "/") for p in paths)
    return ImageCollection(source, names, labels, class_names, tuple(paths), ", ".join(roots))


class Folder(DatasetSource):
    """Any folder of class sub-folders; a split is its sub-folder (or the whole folder)."""

    name = "folder"
    data_dir = "a folder of class sub-folders"
    needs_data_dir = True

    def class_names(self, source: DataSource) -> tuple[str, ...]:
        return shared_class_folders(folder_roots(source.data_dir, source.split))

    def listing(self, source: DataSource) -> ImageCollection:
        return class_folder_listing(source, folder_roots(source.data_dir, source.split))
