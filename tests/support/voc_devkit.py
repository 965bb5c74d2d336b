"""A generated VOCdevkit folder (`VOCdevkit/VOC2012/...`) for the VOC data and Table 6 tests.

Every image shows each of its classes as a vertical band of that class' own colour (20 hues
around the colour wheel, with noise), so a random-weight backbone's features separate them.
"""

import colorsys
import os

import numpy as np

from zfnet_tf.data.sources.voc import VOC_CLASSES


def class_colour(label: int) -> np.ndarray:
    hue = label / len(VOC_CLASSES)
    value = 0.95 if label % 2 == 0 else 0.6
    return 255 * np.asarray(colorsys.hsv_to_rgb(hue, 0.9, value))


def voc_image(labels, seed: int, size: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.empty((size, size, 3))
    bands = np.array_split(np.arange(size), len(labels))
    for label, columns in zip(labels, bands):
        image[:, columns] = class_colour(label)
    image += rng.normal(0, 10, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def annotation_xml(image_id: str, objects, size: int = 48) -> str:
    """A VOC annotation: `objects` are `(class name, difficult)`."""
    parts = [f"<annotation><folder>VOC2012</folder><filename>{image_id}.jpg</filename>",
             f"<size><width>{size}</width><height>{size}</height><depth>3</depth></size>"]
    for index, (name, difficult) in enumerate(objects):
        parts.append(
            f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>"
            f"<difficult>{int(difficult)}</difficult><bndbox><xmin>{1 + index}</xmin><ymin>1</ymin>"
            f"<xmax>{10 + index}</xmax><ymax>{size}</ymax></bndbox></object>"
        )
    return "".join(parts) + "</annotation>\n"


def write_vocdevkit(root, image_sets: dict, annotate_test: bool = False) -> str:
    """Writes `root/VOCdevkit/VOC2012` with `image_sets`: `{"train": {id: [(class, difficult),
    ...]}, "val": ..., "test": ...}` (trainval is train + val); returns the VOC2012 folder."""
    from PIL import Image

    voc = os.path.join(os.fspath(root), "VOCdevkit", "VOC2012")
    for folder in ("JPEGImages", "Annotations", os.path.join("ImageSets", "Main")):
        os.makedirs(os.path.join(voc, folder), exist_ok=True)
    lists = {name: [] for name in ("train", "val", "trainval", "test")}
    for image_set, images in image_sets.items():
        for seed, (image_id, objects) in enumerate(sorted(images.items())):
            labels = list(dict.fromkeys(VOC_CLASSES.index(name) for name, _ in objects)) or [0]
            Image.fromarray(voc_image(labels, int(image_id.split("_")[-1]) + seed)).save(
                os.path.join(voc, "JPEGImages", f"{image_id}.jpg"), quality=95
            )
            if image_set != "test" or annotate_test:
                with open(os.path.join(voc, "Annotations", f"{image_id}.xml"), "w") as handle:
                    handle.write(annotation_xml(image_id, objects))
            lists[image_set].append(image_id)
            if image_set in ("train", "val"):
                lists["trainval"].append(image_id)
    for name, ids in lists.items():
        with open(os.path.join(voc, "ImageSets", "Main", f"{name}.txt"), "w") as handle:
            handle.writelines(f"{i}\n" for i in sorted(ids))
    return voc


def learnable_sets(train_per_class: int = 3, val_per_class: int = 2, test: int = 6, seed: int = 0) -> dict:
    """Image sets where every class has images alone and beside another class (some of those
    difficult), for training both heads and scoring every class."""
    rng = np.random.default_rng(seed)
    sets = {"train": {}, "val": {}, "test": {}}
    counter = 0
    for image_set, per_class in (("train", train_per_class), ("val", val_per_class)):
        for label, name in enumerate(VOC_CLASSES):
            for k in range(per_class):
                counter += 1
                objects = [(name, False)]
                if k % 2 == 1:  # a second class, difficult every other time
                    other = VOC_CLASSES[(label + 1 + rng.integers(0, len(VOC_CLASSES) - 1)) % len(VOC_CLASSES)]
                    objects.append((other, bool(k % 4 == 3)))
                sets[image_set][f"2012_{counter:06d}"] = objects
    for k in range(test):
        counter += 1
        sets["test"][f"2012_{counter:06d}"] = [(VOC_CLASSES[k % len(VOC_CLASSES)], False)]
    return sets
