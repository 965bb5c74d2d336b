"""Listed sources (`image_collection`): Caltech-101/256 folders and their splits, TFDS
caltech101 (mocked), folders, exclusions, unreadable files."""

import io
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from class_images import class_image
from zfnet_tf.data import DataSource, SkippedFilesWarning, image_collection, make_split


def pool(name, data_dir, **options):
    """Every image of a source once (split "all"), as the transfer protocol reads it."""
    return image_collection(DataSource(name, data_dir, split="all", **options))


def write_exclude_file(path, names):
    path.write_text("# images that also occur in ImageNet\n\n" + "\n".join(names) + "\n")
    return str(path)


def test_folder_with_exclude_file_never_yields_excluded_images(tmp_path, class_folders):
    root = class_folders(tmp_path / "images", {"cat": 6, "dog": 6, "owl": 6})
    excluded = ["cat/cat_001.png", "dog_004.png", "owl/owl_000.png", "owl/missing.png"]
    collection = pool("folder", root, exclude_file=write_exclude_file(tmp_path / "exclude.txt", excluded))
    assert collection.class_names == ("cat", "dog", "owl")
    assert len(collection) == 18 - 3
    assert collection.excluded == 3
    assert collection.unmatched_exclusions == ("owl/missing.png",)
    for name in ("cat/cat_001.png", "dog/dog_004.png", "owl/owl_000.png"):
        assert name not in collection.names
        assert not any(source.endswith(name.replace("/", os.sep)) for source in collection.sources)
    np.testing.assert_array_equal(np.bincount(collection.labels), [5, 5, 5])
    for seed in range(3):
        split = make_split(collection.labels, 2, None, seed)
        used = {collection.names[i] for i in np.concatenate([split.train, split.test])}
        assert used.isdisjoint(excluded)
        assert len(used) == 15


def test_missing_exclude_file_is_named(tmp_path, class_folders):
    root = class_folders(tmp_path / "images", {"a": 2})
    with pytest.raises(ValueError, match="exclude file not found: .*nope.txt"):
        pool("folder", root, exclude_file=str(tmp_path / "nope.txt"))


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


def test_images_decode_resize_and_follow_the_requested_order(tmp_path, class_folders):
    root = class_folders(tmp_path / "images", {"a": 2, "b": 2}, extension=".jpg", size=40)
    collection = pool("folder", root)
    images = np.stack(list(collection.images([3, 0], image_size=20).as_numpy_iterator()))
    assert images.shape == (2, 20, 20, 3) and images.dtype == np.float32
    first = np.asarray(Image.open(collection.sources[3]).convert("RGB").resize((20, 20), Image.BILINEAR))
    # JPEG and resampling filters differ slightly; the class colours do not.
    np.testing.assert_allclose(images[0].mean((0, 1)), first.mean((0, 1)), atol=6)


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
    exclude = write_exclude_file(tmp_path / "exclude.txt", ["airplanes/image_test_0002.jpg"])
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


def test_unknown_dataset_and_missing_folder_are_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        pool("mnist", str(tmp_path))
    with pytest.raises(ValueError, match="needs data_dir"):
        pool("folder", None)
    with pytest.raises(ValueError, match="image folder not found"):
        pool("folder", str(tmp_path / "nothing"))
    with pytest.raises(ValueError, match="streams from TFDS"):
        image_collection(DataSource("imagenet2012"))
