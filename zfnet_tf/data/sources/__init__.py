"""The datasets the project reads, one module each, registered by name.

| name | where the examples come from | splits |
| --- | --- | --- |
| `digits` | scikit-learn's 1,797 handwritten digits, shipped inside the package: no network | a fixed stratified 75% / 25% draw |
| `folder` | `data_dir/<class>/<image>`, or `data_dir/train/...` and `data_dir/val/...` | the split sub-folders, else the same images for both |
| `caltech101` | a `101_ObjectCategories/` folder (`data_dir` or its child), else TensorFlow Datasets' `caltech101` (`data_dir`: the TFDS data dir); `BACKGROUND_Google` is not a class | a seeded draw: up to 30 images a class train, the rest test |
| `caltech256` | a `256_ObjectCategories/` folder (`data_dir` or its child); `257.clutter` is not a class | a seeded draw: up to 60 images a class train, the rest test |
| `imagenet2012` | TensorFlow Datasets' `imagenet2012` (`data_dir`: the manual download folder) | TFDS's train and validation |
| `voc2012` | a VOCdevkit `VOC2012/` folder (`data_dir` or under it), else TFDS' `voc/2012` (`data_dir`: the TFDS data dir); multi-label (`voc_images`) | VOC's train, val (as test) and trainval (as all) |

Every source but `imagenet2012` is listed example by example and has the split `all` (every
example once, in a fixed order): the pool the transfer protocol draws its own splits from.
Each is a `DatasetSource` (`base.py`); `load_data` and `image_collection` look it up here.
Importing this package loads no TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zfnet_tf.data.sources.base import DatasetSource, Stream
from zfnet_tf.data.sources.caltech import Caltech101, Caltech256
from zfnet_tf.data.sources.digits import Digits
from zfnet_tf.data.sources.folder import Folder
from zfnet_tf.data.sources.imagenet import ImageNet2012
from zfnet_tf.data.sources.voc import VOC2012

if TYPE_CHECKING:
    from zfnet_tf.data.catalog import DataSource

SOURCES: dict[str, DatasetSource] = {
    source.name: source for source in (Digits(), Folder(), Caltech101(), Caltech256(), ImageNet2012(), VOC2012())
}


def get_source(name: str) -> DatasetSource:
    """The source registered as `name` (a ValueError listing the names otherwise)."""
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose one of {tuple(SOURCES)}") from None


def class_names(source: DataSource) -> tuple[str, ...]:
    """The classes of a source, indexed by label, without reading any example: from the class
    sub-folders, TFDS' metadata, the ImageNet class file or the VOC devkit's list."""
    return get_source(source.name).class_names(source)


__all__ = ["SOURCES", "DatasetSource", "Stream", "class_names", "get_source"]
