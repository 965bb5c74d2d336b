"""The 1000 ILSVRC-2012 (ImageNet-1k) classes in their standard index order, shipped as data.

`imagenet2012_classes.tsv` holds one `wordnet_id<TAB>name` line per class index (0 tench,
1 goldfish, ..., 281 tabby, ..., 999 toilet tissue): the IDs in tensorflow-datasets'
`imagenet2012` label order, the names torchvision gives those classes. It is written once at
development time by `tools/imagenet_class_names.py`; nothing is fetched at run time.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import NamedTuple

CLASSES_FILE = "imagenet2012_classes.tsv"
NUM_CLASSES = 1000


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
