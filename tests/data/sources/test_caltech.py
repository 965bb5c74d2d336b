"""Caltech-101/256 (`zfnet_tf.data.sources.caltech`): their folders less the background class,
the seeded train/test draw, and TFDS caltech101 (mocked)."""

import io
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from support.class_images import class_image
from zfnet_tf.data import DataSource, SkippedFilesWarning, image_collection


def pool(name, data_dir, **options):
    """Every image of a source once (split "all"), as the transfer protocol reads it."""
    return image_collection(DataSource(name, data_dir, split="all", **options))


def test_caltech101_folder_leaves_out_background_unless_asked(tmp_path, class_folders):
    parent = tmp_path / "caltech-101"
    class_folders(
        parent / "101_ObjectCategories", {"BACKGROUND_Google": 3, "Faces": 4, "accordion": 4}
    )
    for data_dir in (parent, parent / "101_ObjectCategories"):
        collection = pool("caltech101", str(data_dir))
        assert collection.class_names == ("Faces", "accordion")
        assert not any(n.startswith("BACKGROUND_Google/") for n in collection.names)
    with_background = pool("caltech101", str(parent), include_background=True)
    assert with_background.class_names == ("BACKGROUND_Google", "Faces", "accordion")
    assert len(with_background) == 11


def test_caltech256_folder_leaves_out_clutter(tmp_path, class_folders):
    parent = tmp_path / "caltech256"
    class_folders(
        parent / "256_ObjectCategories", {"001.ak47": 3, "002.american-flag": 3, "257.clutter": 5},
        extension=".jpg",
    )
    collection = pool("caltech256", str(parent))
    assert collection.class_names == ("001.ak47", "002.american-flag")
    assert len(collection) == 6
    with pytest.raises(ValueError, match="256_ObjectCategories"):
        pool("caltech256", str(tmp_path))


def test_caltech_train_and_test_are_a_seeded_draw_a_broken_file_leaves_only_its_own(tmp_path, class_folders):
    """Caltech has no official split: `train` is up to 60 random images a class (Caltech-256),
    at least one left to test; `test` is the rest. A broken file is skipped from whichever
    split it fell in, and every other image stays where it was."""
    root = class_folders(tmp_path / "256_ObjectCategories", {"001.ak47": 70, "002.bat": 12}, extension=".jpg", size=8)
    source = DataSource("caltech256", str(tmp_path), split="train")
    train, test = image_collection(source), image_collection(source.replace(split="test"))
    np.testing.assert_array_equal(np.bincount(train.labels), [60, 11])
    np.testing.assert_array_equal(np.bincount(test.labels), [10, 1])
    assert set(train.names).isdisjoint(test.names) and len(set(train.names) | set(test.names)) == 82
    assert image_collection(source).names == train.names  # the seed alone decides
    assert image_collection(source.replace(seed=1)).names != train.names
    broken = sorted(test.names)[0]
    with open(os.path.join(root, broken), "wb") as handle:
        handle.write(b"\xff\xd8\xff broken")
    with pytest.warns(SkippedFilesWarning, match=broken.split("/")[-1]):
        test_after = image_collection(source.replace(split="test"))
    assert image_collection(source).names == train.names
    assert set(test_after.names) == set(test.names) - {broken}
    assert [s.path for s in test_after.skipped] == [os.path.join(root, broken)]


def fake_caltech101(self, split, decoders=None, read_config=None, **kwargs):
    """TFDS's caltech101 `_as_dataset`, with 3 classes (one of them the background class) and
    distinct images in `train` and `test`, encoded as JPEG like the real records."""
    names = self.info.features["label"].names
    labels = [names.index(n) for n in ("accordion", "background_google", "airplanes")]
    examples = []
    for label in labels:
        for index in range(4):
            image = class_image(label, index + (100 if split == "test" else 0), size=24)
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="JPEG")
            examples.append((buffer.getvalue(), label, f"image_{split}_{index:04d}.jpg"))
    skip_decoding = decoders is not None and "image" in decoders
    assert skip_decoding, "the transfer pool reads Caltech-101 without decoding"
    if split == "test":  # a record whose bytes are not an image, as a damaged download has
        examples[0] = (b"<html>not found</html>", examples[0][1], examples[0][2])
    images, label_values, file_names = zip(*examples)
    return tf.data.Dataset.from_tensor_slices(
        {
            "image": list(images),
            "label": np.asarray(label_values, np.int64),
            "image/file_name": list(file_names),
        }
    )


def test_tfds_caltech101_pools_both_splits_without_background(tmp_path):
    (tmp_path / "exclude.txt").write_text("airplanes/image_test_0002.jpg\n")
    exclude = str(tmp_path / "exclude.txt")
    with tfds.testing.mock_data(as_dataset_fn=fake_caltech101), pytest.warns(SkippedFilesWarning):
        collection = pool("caltech101", str(tmp_path / "tfds"), exclude_file=exclude)
    assert collection.origin == "tfds:caltech101" and collection.kind == "bytes"
    assert collection.class_names == tuple(
        n for n in tfds.builder_cls("caltech101")(data_dir=str(tmp_path)).info.features["label"].names
        if n != "background_google"
    )
    assert len(collection.class_names) == 101
    assert collection.excluded == 1
    assert "airplanes/image_test_0002.jpg" not in collection.names
    assert list(collection.names) == sorted(collection.names)
    # The unreadable record is named by its class and file.
    assert [(s.path, s.reason.split(" (")[0]) for s in collection.skipped] == [
        ("accordion/image_test_0000.jpg", "not a JPEG, PNG, GIF, BMP or WebP image")
    ]
    counts = np.bincount(collection.labels, minlength=101)
    assert counts[collection.class_names.index("accordion")] == 7
    assert counts[collection.class_names.index("airplanes")] == 7
    assert counts.sum() == 14
    images = list(collection.images(range(3), image_size=16).as_numpy_iterator())
    assert all(image.shape == (16, 16, 3) for image in images)
