"""PASCAL VOC 2012 in the data layer: a VOCdevkit folder and TFDS `voc/2012`, each image with
its classes and difficult flags, unreadable files named and counted."""

import io
import os

import numpy as np
import pytest

from support.voc_devkit import write_vocdevkit
from zfnet_tf.data import DATASETS, DataSource, SkippedFilesWarning, class_names, image_collection
from zfnet_tf.data.sources.voc import VOC_CLASSES, voc_images, voc_root

SETS = {
    "train": {
        "2008_000001": [("dog", False), ("person", False)],
        "2008_000002": [("cat", False), ("cat", True)],
        "2008_000003": [("bottle", True)],
    },
    "val": {
        "2008_000004": [("aeroplane", False)],
        "2008_000005": [("person", True), ("horse", False), ("person", False)],
    },
    "test": {"2008_000006": [], "2008_000007": []},
}


@pytest.fixture(scope="module")
def devkit(tmp_path_factory):
    return write_vocdevkit(tmp_path_factory.mktemp("voc"), SETS)


def test_classes_are_the_devkits_twenty_in_its_order():
    assert "voc2012" in DATASETS
    assert class_names(DataSource("voc2012")) == VOC_CLASSES
    assert len(VOC_CLASSES) == 20 and VOC_CLASSES[0] == "aeroplane" and VOC_CLASSES[-1] == "tvmonitor"
    assert VOC_CLASSES.index("person") == 14 and VOC_CLASSES.index("diningtable") == 10


def test_devkit_image_sets_with_classes_and_difficult_flags(devkit):
    parent = os.path.dirname(devkit)  # VOCdevkit/
    for data_dir in (devkit, parent, os.path.dirname(parent)):
        assert voc_root(data_dir) == devkit
    train = voc_images(DataSource("voc2012", os.path.dirname(parent)), "train")
    assert train.image_ids == ("2008_000001", "2008_000002", "2008_000003") and train.annotated
    truth = train.ground_truth()
    assert truth.shape == (3, 20) and truth.dtype == np.int8
    dog, person, cat, bottle = (VOC_CLASSES.index(c) for c in ("dog", "person", "cat", "bottle"))
    assert truth[0, dog] == 1 and truth[0, person] == 1 and (np.delete(truth[0], [dog, person]) == -1).all()
    assert truth[1, cat] == 1  # one clear cat beside a difficult one: the class is there
    assert truth[2, bottle] == 0  # only a difficult bottle: ignored for that class
    assert [o.difficult for o in train.objects[1]] == [False, True]
    # The single-label view: the dominant (largest non-difficult) object's class.
    assert train.collection.labels.tolist() == [dog, cat, bottle]
    trainval = voc_images(DataSource("voc2012", devkit), "trainval")
    assert len(trainval) == 5
    test = voc_images(DataSource("voc2012", devkit), "test")
    assert not test.annotated and test.objects == ((), ())
    assert (test.ground_truth() == -1).all()


def test_data_source_splits_are_voc_image_sets(devkit):
    assert image_collection(DataSource("voc2012", devkit, split="train")).names == tuple(sorted(SETS["train"]))
    assert image_collection(DataSource("voc2012", devkit, split="test")).names == tuple(sorted(SETS["val"]))
    assert len(image_collection(DataSource("voc2012", devkit, split="all"))) == 5
    from zfnet_tf.data import load_data

    loaded = load_data(DataSource("voc2012", devkit, split="test"), image_size=32)
    images = list(loaded.dataset.as_numpy_iterator())
    assert len(images) == 2 and images[0][0].shape == (32, 32, 3)
    assert loaded.class_names == VOC_CLASSES


def test_unreadable_images_and_annotations_are_named_and_counted(tmp_path):
    voc = write_vocdevkit(tmp_path, SETS)
    broken_image = os.path.join(voc, "JPEGImages", "2008_000002.jpg")
    with open(broken_image, "wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0 cut short")
    broken_xml = os.path.join(voc, "Annotations", "2008_000003.xml")
    with open(broken_xml, "w") as handle:
        handle.write("<annotation><object><name>dog")
    with pytest.warns(SkippedFilesWarning) as caught:
        train = voc_images(DataSource("voc2012", voc), "train")
    messages = " ".join(str(w.message) for w in caught)
    assert broken_image in messages and broken_xml in messages
    assert train.image_ids == ("2008_000001",)
    report = train.report()
    assert report["skipped_files"] == 2 and report["image_set"] == "train"
    reasons = {s["path"]: s["reason"] for s in report["skipped"]}
    assert reasons[broken_xml].startswith("not XML") and "JPEG" in reasons[broken_image]
    with pytest.raises(ValueError, match=f"{broken_xml}: not XML"):
        voc_images(DataSource("voc2012", voc, strict=True), "train")
    os.remove(os.path.join(voc, "ImageSets", "Main", "val.txt"))
    with pytest.raises(ValueError, match="VOC image set list not found: .*val.txt"):
        voc_images(DataSource("voc2012", voc), "val")


def test_an_unknown_class_or_an_oversize_annotation_is_not_parsed(tmp_path):
    from zfnet_tf.data.sources.voc import MAX_ANNOTATION_BYTES, parse_annotation

    path = tmp_path / "a.xml"
    path.write_text("<annotation><object><name>unicorn</name></object></annotation>")
    with pytest.raises(ValueError, match="unknown class 'unicorn'"):
        parse_annotation(str(path))
    path.write_text("<annotation>" + " " * MAX_ANNOTATION_BYTES + "</annotation>")
    with pytest.raises(ValueError, match="not a VOC annotation"):
        parse_annotation(str(path))


def _jpeg(colour) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((20, 24, 3), colour, np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_tfds_voc_2012_with_its_splits_objects_and_difficult_flags(tmp_path):
    """TFDS `voc/2012` (data_dir: a TFDS data dir without a VOCdevkit), its splits as VOC's
    image sets: examples given through `tfds.testing.mock_data`, read the way the real builder
    serves them (encoded images, `objects` with label, is_difficult, bbox)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    examples = {
        "train": [("2008_000009.jpg", [(11, False), (14, True)]), ("2008_000003.jpg", [(2, False)])],
        "validation": [("2008_000004.jpg", [(0, True)])],
        "test": [("2008_000100.jpg", [])],
    }
    asked = []

    def as_dataset(self, split, decoders=None, read_config=None, shuffle_files=False):
        asked.append((self.name, str(split)))
        assert decoders is not None, "images are read encoded (SkipDecoding)"
        rows = examples[str(split)]

        def generate():
            for filename, objects in rows:
                yield {
                    "image": _jpeg((40 * len(objects), 90, 200)),
                    "image/filename": filename,
                    "objects": {
                        "label": np.asarray([o[0] for o in objects], np.int64),
                        "is_difficult": np.asarray([o[1] for o in objects], bool),
                        "bbox": np.tile(np.float32([0.1, 0.2, 0.6, 0.9]), (len(objects), 1)),
                    },
                }

        return tf.data.Dataset.from_generator(generate, output_signature={
            "image": tf.TensorSpec([], tf.string),
            "image/filename": tf.TensorSpec([], tf.string),
            "objects": {
                "label": tf.TensorSpec([None], tf.int64),
                "is_difficult": tf.TensorSpec([None], tf.bool),
                "bbox": tf.TensorSpec([None, 4], tf.float32),
            },
        })

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        trainval = voc_images(DataSource("voc2012", str(tmp_path)), "trainval")
        test = voc_images(DataSource("voc2012", str(tmp_path)), "test")
    assert ("voc", "train") in asked and ("voc", "validation") in asked and ("voc", "test") in asked
    assert trainval.image_ids == ("2008_000003", "2008_000004", "2008_000009")
    assert trainval.report()["origin"] == "tfds:voc/2012"
    truth = trainval.ground_truth()
    assert truth[0, 2] == 1 and truth[1, 0] == 0 and truth[2, 11] == 1 and truth[2, 14] == 0
    assert (truth[1, 1:] == -1).all()
    assert trainval.objects[2][0].box == pytest.approx((0.2, 0.1, 0.9, 0.6))  # (xmin, ymin, xmax, ymax)
    pixels = np.stack(list(trainval.collection.images([0, 1], 16).as_numpy_iterator()))
    assert pixels.shape == (2, 16, 16, 3) and abs(pixels[0, ..., 2].mean() - 200) < 8
    assert not test.annotated and test.image_ids == ("2008_000100",)
