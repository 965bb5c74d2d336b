"""`imagenet2012`: ILSVRC-2012 (ImageNet-1k) streamed from TensorFlow Datasets (`data_dir`: the
folder of the manual download), TFDS' train and validation splits; and its 1000 classes in
their standard index order, shipped as data.

`zfnet_tf/data/imagenet2012_classes.tsv` holds one `wordnet_id<TAB>name` line per class index
(0 tench, 1 goldfish, ..., 281 tabby, ..., 999 toilet tissue): the IDs in tensorflow-datasets'
`imagenet2012` label order, the names torchvision gives those classes. It is written once at
development time by `tools/imagenet_class_names.py`; nothing is fetched at run time.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import TYPE_CHECKING, NamedTuple

from zfnet_tf.data.sources.base import DatasetSource, Stream

if TYPE_CHECKING:
    from zfnet_tf.data.catalog import DataSource

CLASSES_FILE = "imagenet2012_classes.tsv"
NUM_CLASSES = 1000
IMAGENET_ARCHIVES = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")


class ImageNetClasses(NamedTuple):
    """WordNet IDs (e.g. "n02123045") and names (e.g. "tabby") by class index."""

    wordnet_ids: tuple[str, ...]
    names: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> ImageNetClasses:
    """The ImageNet-1k classes in index order, read from the package's data file."""
    text = resources.files("zfnet_tf.data").joinpath(CLASSES_FILE).read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    if len(rows) != NUM_CLASSES or any(len(row) != 2 for row in rows):
        raise ValueError(f"zfnet_tf/data/{CLASSES_FILE} is damaged: expected {NUM_CLASSES} 'id<TAB>name' lines")
    return ImageNetClasses(tuple(r[0] for r in rows), tuple(r[1] for r in rows))


class ImageNet2012(DatasetSource):
    """TFDS `imagenet2012`, prepared once from the manual download (`IMAGENET_ARCHIVES`)."""

    name = "imagenet2012"
    listed = False
    data_dir = f"the folder of {' and '.join(IMAGENET_ARCHIVES)} (None: TFDS' default)"
    takes_exclude_file = False
    splits = {"train": "train", "test": "validation"}

    def class_names(self, source: DataSource) -> tuple[str, ...]:
        return imagenet_classes().names

    def stream(self, source: DataSource, shard: tuple[int, int] | None = None) -> Stream:
        """The split shuffled by file for training, in order for testing; a shard is whole files."""
        from zfnet_tf.data.tfds import prepared_tfds_builder, supervised_split

        builder = prepared_tfds_builder(
            self.name, manual_dir=source.data_dir, manual_archives=IMAGENET_ARCHIVES, manual_source="image-net.org"
        )
        dataset, num_examples = supervised_split(builder, self.splits[source.split], source.split == "train", shard)
        return Stream(dataset, num_examples, f"tfds:{self.name}")
