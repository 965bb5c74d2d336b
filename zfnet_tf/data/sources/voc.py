"""`voc2012`: PASCAL VOC 2012 classification data (the paper's Table 6), images with their set
of classes; VOC's train, val (as the split test) and trainval (as all).

Read from a VOCdevkit folder (`VOC2012/` or a parent of it: `JPEGImages/<id>.jpg`,
`Annotations/<id>.xml`, `ImageSets/Main/{train,val,trainval,test}.txt`), else from TensorFlow
Datasets' `voc/2012` with `data_dir` as the TFDS data dir. Each image carries its objects'
classes and `difficult` flags, summed up as the devkit's classification ground truth per class:
1 (an instance that is not difficult), 0 (only difficult instances: the image is ignored for
that class when scoring), -1 (no instance).

Importing this module loads no TensorFlow; the listing's `ImageCollection` (which decodes) is
made on demand.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from zfnet_tf.data.folders import folder_or_parent
from zfnet_tf.data.sources.base import DatasetSource, readable, without_excluded

if TYPE_CHECKING:
    from zfnet_tf.data.catalog import DataSource
    from zfnet_tf.data.checks import SkippedFile
    from zfnet_tf.data.collection import ImageCollection

# The devkit's class order (VOCdevkit/VOCcode/VOCinit.m), which TFDS' `voc` keeps too.
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
VOC_IMAGE_SETS = ("train", "val", "trainval", "test")
# A DataSource's split, as a VOC image set: `val` is the offline stand-in for the test server.
SPLIT_IMAGE_SETS = {"train": "train", "test": "val", "all": "trainval"}
VOC_FOLDER = "VOC2012"
TFDS_NAME = "voc/2012"
TFDS_SPLITS = {"train": ("train",), "val": ("validation",), "trainval": ("train", "validation"), "test": ("test",)}
# An annotation file is a few kB; anything this large is not one (and is not parsed).
MAX_ANNOTATION_BYTES = 1 << 20
MAX_LIST_BYTES = 16 << 20
OFFLINE_REMEDY = "give a VOCdevkit folder (or its VOC2012/ folder) as --data-dir, or run once with network access"


@dataclass(frozen=True)
class VOCObject:
    """One annotated object: its class index (`VOC_CLASSES`), `difficult` flag and box
    `(xmin, ymin, xmax, ymax)`: in pixels (1-based) from the devkit's XML, in fractions of the
    image from TFDS."""

    label: int
    difficult: bool
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


@dataclass(frozen=True, eq=False)
class VOCImages:
    """The images of one VOC image set, in the list's order, with their objects.

    Attributes:
        image_set: "train", "val", "trainval" or "test".
        collection: the images as an `ImageCollection` (names are the image ids; `labels`
            each image's dominant class: its largest non-difficult object, else its largest
            object; 0 for an image without annotation), for feature extraction and for any
            single-label consumer.
        objects: per image, its annotated objects (empty where there is no annotation).
        annotated: whether the image set has annotations (the `test` set usually has none).
    """

    image_set: str
    collection: "ImageCollection"
    objects: tuple[tuple[VOCObject, ...], ...]
    annotated: bool

    def __len__(self) -> int:
        return len(self.collection)

    @property
    def image_ids(self) -> tuple[str, ...]:
        return self.collection.names

    @property
    def skipped(self) -> "tuple[SkippedFile, ...]":
        return self.collection.skipped

    def ground_truth(self) -> np.ndarray:
        """int8 `[N, 20]`: the devkit's classification ground truth, 1 / 0 (difficult only) / -1."""
        truth = np.full((len(self), len(VOC_CLASSES)), -1, np.int8)
        for row, objects in enumerate(self.objects):
            for item in objects:
                truth[row, item.label] = max(truth[row, item.label], 0 if item.difficult else 1)
        return truth

    def report(self) -> dict:
        return {**self.collection.report(), "image_set": self.image_set}


def voc_root(data_dir: str) -> str | None:
    """The `VOC2012/` folder at `data_dir` (itself, its child, or `VOCdevkit/VOC2012` under
    it); None when `data_dir` holds no VOCdevkit (it is then a TFDS data dir)."""
    for base in (data_dir, os.path.join(data_dir, "VOCdevkit")):
        if os.path.isdir(base):
            folder = folder_or_parent(base, VOC_FOLDER)
            if folder is not None:
                return folder
    if os.path.isdir(os.path.join(data_dir, "JPEGImages")) and os.path.isdir(os.path.join(data_dir, "ImageSets")):
        return os.path.normpath(data_dir)
    return None


def voc_images(source: "DataSource", image_set: str | None = None) -> VOCImages:
    """The images of a VOC image set (default: the source's split, `SPLIT_IMAGE_SETS`), from
    a VOCdevkit folder or TFDS `voc/2012`.

    Images that are not readable, and annotation files that are missing or not VOC XML, leave
    the set with a warning naming each (with `source.strict`: a ValueError naming the first);
    they are counted and named in `report()` like every source's skipped files.
    """
    image_set = image_set or SPLIT_IMAGE_SETS[source.split]
    if image_set not in VOC_IMAGE_SETS:
        raise ValueError(f"VOC image set must be one of {VOC_IMAGE_SETS}, got {image_set!r}")
    root = voc_root(source.data_dir) if source.data_dir else None
    if root is None:
        listing, objects = _tfds_listing(source, image_set)
        pool, skipped = without_excluded(source, listing), ()
    else:
        pool = without_excluded(source, _devkit_listing(source, root, image_set))
        objects, skipped = _devkit_objects(source, root, image_set, pool.names)
    what = f"voc2012[{image_set}] ({pool.origin})"
    # An image whose annotation is unusable leaves the set before its file is checked.
    kept = [i for i, name in enumerate(pool.names) if name in objects]
    if not kept:
        raise ValueError(f"{what} has no usable images")
    pool = pool.subset(kept)
    pool = pool.replace(labels=[dominant_label(objects[name]) for name in pool.names], skipped=skipped)
    collection = readable(source, pool, what)
    found = tuple(objects[name] for name in collection.names)
    # The devkit's test set comes without annotations (TFDS': without objects).
    annotated = any(found) if root is None else image_set != "test" or any(objects.values())
    return VOCImages(image_set, collection, found, annotated)


def read_image_set(root: str, image_set: str) -> list[str]:
    """The image ids of `ImageSets/Main/<image_set>.txt` (first column, in order)."""
    path = os.path.join(root, "ImageSets", "Main", f"{image_set}.txt")
    if not os.path.isfile(path):
        raise ValueError(f"VOC image set list not found: {path}")
    if os.path.getsize(path) > MAX_LIST_BYTES:
        raise ValueError(f"VOC image set list {path} is over {MAX_LIST_BYTES >> 20} MB")
    with open(path, encoding="utf-8") as handle:
        ids = [line.split()[0] for line in handle if line.strip()]
    if not ids:
        raise ValueError(f"VOC image set list {path} is empty")
    return ids


def parse_annotation(path: str) -> tuple[VOCObject, ...]:
    """The objects of a VOC annotation file, or a ValueError saying why it is not one."""
    if os.path.getsize(path) > MAX_ANNOTATION_BYTES:
        raise ValueError(f"over {MAX_ANNOTATION_BYTES >> 10} kB, not a VOC annotation")
    try:
        tree = ElementTree.parse(path)
    except ElementTree.ParseError as error:
        raise ValueError(f"not XML ({error})") from None
    objects = []
    for element in tree.getroot().iter("object"):
        name = (element.findtext("name") or "").strip()
        if name not in VOC_CLASSES:
            raise ValueError(f"unknown class {name!r}")
        difficult = (element.findtext("difficult") or "0").strip()
        box = element.find("bndbox")
        try:
            corners = tuple(float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")) if box is not None else (0.0,) * 4
        except (TypeError, ValueError):
            raise ValueError(f"a {name} box is not four numbers") from None
        objects.append(VOCObject(VOC_CLASSES.index(name), difficult not in ("", "0"), corners))
    return tuple(objects)


def dominant_label(objects: tuple[VOCObject, ...]) -> int:
    """The class of the largest non-difficult object (else of the largest object; 0 if none)."""
    if not objects:
        return 0
    clear = [o for o in objects if not o.difficult] or list(objects)
    return max(clear, key=lambda o: o.area).label


def _devkit_listing(source: "DataSource", root: str, image_set: str) -> "ImageCollection":
    """The image set's JPEG files by id, in the list's order (labels come with the objects)."""
    from zfnet_tf.data.collection import ImageCollection

    ids = tuple(read_image_set(root, image_set))
    paths = tuple(os.path.join(root, "JPEGImages", f"{image_id}.jpg") for image_id in ids)
    return ImageCollection(source, ids, np.zeros(len(ids), np.int32), VOC_CLASSES, paths, root)


def _devkit_objects(
    source: "DataSource", root: str, image_set: str, ids: tuple[str, ...]
) -> "tuple[dict[str, tuple[VOCObject, ...]], tuple[SkippedFile, ...]]":
    """The objects of each image by id, from its annotation file, and the annotation files
    that are missing or not VOC XML (their images left out, with a warning naming each; with
    `source.strict`: a ValueError naming the first). The `test` set without annotations: no
    objects."""
    import warnings

    from zfnet_tf.data.checks import SkippedFile, SkippedFilesWarning

    folder = os.path.join(root, "Annotations")
    if image_set == "test" and not os.path.isfile(os.path.join(folder, f"{ids[0]}.xml")):
        return {image_id: () for image_id in ids}, ()
    objects, skipped = {}, []
    for image_id in ids:
        path = os.path.join(folder, f"{image_id}.xml")
        try:
            if not os.path.isfile(path):
                raise ValueError("no annotation file")
            objects[image_id] = parse_annotation(path)
        except ValueError as error:
            if source.strict:
                raise ValueError(f"{path}: {error}") from None
            skipped.append(SkippedFile(path, str(error)))
    if skipped:
        names = "; ".join(f"{s.path} ({s.reason})" for s in skipped[:5])
        warnings.warn(
            f"voc2012[{image_set}] ({root}): skipped {len(skipped)} image(s) whose annotation is "
            f"unusable: {names}{' ...' if len(skipped) > 5 else ''}",
            SkippedFilesWarning, stacklevel=3,
        )
    return objects, tuple(skipped)


def _tfds_listing(source: "DataSource", image_set: str) -> "tuple[ImageCollection, dict[str, tuple[VOCObject, ...]]]":
    """TFDS `voc/2012` (`data_dir`: the TFDS data dir), its splits as VOC's image sets: the
    images by id (from the file names) in id order, kept encoded (they decode when read), and
    their objects by id."""
    from zfnet_tf.data.collection import ImageCollection
    from zfnet_tf.data.tfds import encoded_examples, prepared_tfds_builder

    builder = prepared_tfds_builder(TFDS_NAME, source.data_dir, offline_remedy=OFFLINE_REMEDY)
    objects, images = {}, {}
    for example in encoded_examples(builder, TFDS_SPLITS[image_set]):
        image_id = os.path.splitext(example["image/filename"].decode())[0]
        objects[image_id] = tuple(
            VOCObject(int(label), bool(difficult), (float(box[1]), float(box[0]), float(box[3]), float(box[2])))
            for label, difficult, box in zip(
                example["objects"]["label"], example["objects"]["is_difficult"], example["objects"]["bbox"]
            )
        )
        images[image_id] = example["image"]
    if not images:
        raise ValueError(f"voc2012[{image_set}] (tfds:{TFDS_NAME}) has no images")
    ids = tuple(sorted(images))  # the devkit's lists are in id order; TFDS' files are not
    listing = ImageCollection(
        source, ids, np.zeros(len(ids), np.int32), VOC_CLASSES, tuple(images[i] for i in ids), f"tfds:{TFDS_NAME}"
    )
    return listing, objects


class VOC2012(DatasetSource):
    """VOC's image sets as splits (`SPLIT_IMAGE_SETS`), each image labelled by its dominant
    class (`voc_images` gives all its objects)."""

    name = "voc2012"
    data_dir = "a VOCdevkit folder (or VOC2012/ under it), else a TFDS data dir"

    def class_names(self, source: "DataSource") -> tuple[str, ...]:
        return VOC_CLASSES

    def collection(self, source: "DataSource") -> "ImageCollection":
        """The image set's images, less those whose annotation is unusable as well as the
        unreadable files."""
        return voc_images(source).collection
