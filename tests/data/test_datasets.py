"""`load_data`: folders with unreadable files, strict, splits, limits, shards, TFDS offline,
class names without reading data."""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from support.class_images import png_with_a_bad_stream
from zfnet_tf.data import (
    DataSource,
    SkippedFilesWarning,
    class_names,
    image_collection,
    load_data,
    make_training_data,
)


def write_image(path, color, size=(20, 14), fmt=None):
    Image.fromarray(np.full((size[1], size[0], 3), color, np.uint8)).save(path, format=fmt)


def test_unreadable_files_are_skipped_named_and_reported(unreadable_class_folder):
    root, bad = unreadable_class_folder
    with pytest.warns(SkippedFilesWarning) as caught:
        loaded = load_data(DataSource("folder", root), image_size=16)
    (message,) = [str(w.message) for w in caught]
    assert all(path in message for path in bad.values())
    assert loaded.class_names == ("cats", "dogs") and loaded.num_examples == 16
    report = loaded.report()
    assert report["skipped_files"] == 3
    assert [entry["path"] for entry in report["skipped"]] == list(bad.values())
    assert [entry["reason"].split(" (")[0] for entry in report["skipped"]] == [
        "broken JPEG header", "not a JPEG, PNG, GIF, BMP or WebP image", "truncated JPEG",
    ]
    # A whole pass reads every good image once, with its class's colour (cats red, dogs blue).
    examples = list(loaded.dataset.as_numpy_iterator())
    labels = np.array([label for _, label in examples])
    np.testing.assert_array_equal(labels, [0] * 8 + [1] * 8)
    means = np.stack([image.mean((0, 1)) for image, _ in examples])
    assert examples[0][0].shape == (16, 16, 3)
    np.testing.assert_allclose(means[:8].mean(0), (200, 60, 40), atol=6)
    np.testing.assert_allclose(means[8:].mean(0), (40, 90, 210), atol=6)


def test_strict_fails_on_the_first_unreadable_file_naming_it(unreadable_class_folder):
    root, bad = unreadable_class_folder
    with pytest.raises(ValueError, match=f"^{bad['broken']}: broken JPEG header"):
        load_data(DataSource("folder", root, strict=True), image_size=16)


def test_a_file_only_decoding_finds_bad_never_ends_a_pass(tmp_path):
    (tmp_path / "a").mkdir()
    write_image(tmp_path / "a" / "0.png", 90)
    write_image(tmp_path / "a" / "1.png", 150)
    (tmp_path / "a" / "bad_stream.png").write_bytes(png_with_a_bad_stream())
    loaded = load_data(DataSource("folder", str(tmp_path)), image_size=8)
    assert loaded.num_examples == 3 and loaded.report()["skipped_files"] == 0  # it passed the check
    means = [float(image.mean()) for image, _ in loaded.dataset.as_numpy_iterator()]
    np.testing.assert_allclose(means, [90, 150], atol=1e-3)
    # The listing can still name it, with TensorFlow's own reason (what transfer reports).
    culprit = image_collection(DataSource("folder", str(tmp_path))).first_undecodable()
    assert culprit.startswith(str(tmp_path / "a" / "bad_stream.png"))


def test_folder_split_sub_folders_and_the_pool_of_both(tmp_path):
    for split, count in (("train", 3), ("val", 2)):
        for name in ("x", "y"):
            (tmp_path / split / name).mkdir(parents=True)
            for index in range(count):
                write_image(tmp_path / split / name / f"{index}.png", 10 * index)
    train = load_data(DataSource("folder", str(tmp_path), split="train"), 8)
    test = load_data(DataSource("folder", str(tmp_path), split="test"), 8)
    assert (train.num_examples, test.num_examples) == (6, 4)
    assert train.class_names == test.class_names == ("x", "y")
    assert len(list(test.dataset)) == 4
    pool = image_collection(DataSource("folder", str(tmp_path), split="all"))
    assert len(pool) == 10 and pool.names[0] == "train/x/0.png" and pool.names[-1] == "val/y/1.png"
    np.testing.assert_array_equal(np.bincount(pool.labels), [5, 5])


def test_a_limit_reads_the_first_usable_examples_only(unreadable_class_folder):
    root, bad = unreadable_class_folder
    # cats/broken.jpg sorts first: it is skipped, and the dogs' bad files are never reached.
    with pytest.warns(SkippedFilesWarning):
        loaded = load_data(DataSource("folder", root, limit=5), 16)
    assert loaded.num_examples == 5
    assert [entry["path"] for entry in loaded.report()["skipped"]] == [bad["broken"]]
    assert loaded.collection.names == tuple(f"cats/cats_{i}.jpg" for i in range(5))


def test_shards_split_the_examples_before_decoding():
    whole = load_data(DataSource("digits", limit=10), 8)
    first = [label for _, label in load_data(DataSource("digits", limit=10), 8, shard=(3, 0)).dataset.as_numpy_iterator()]
    labels = [label for _, label in whole.dataset.as_numpy_iterator()]
    assert first == labels[0::3]
    with pytest.raises(ValueError, match="shard index"):
        load_data("digits", 8, shard=(2, 2))


def test_training_data_reports_both_splits(unreadable_class_folder):
    root, bad = unreadable_class_folder
    with pytest.warns(SkippedFilesWarning):
        data = make_training_data(DataSource("folder", root), 16, global_batch_size=4, seed=0)
    assert data.steps_per_epoch == 4 and data.class_names == ("cats", "dogs")
    report = data.report()
    assert set(report) == {"train", "test"}
    assert [entry["path"] for entry in report["train"]["skipped"]] == list(bad.values())
    images, labels = next(iter(data.train))
    assert images.shape == (4, 16, 16, 3)


# caltech101 through TFDS needs a download: mocked. imagenet2012's real builder prepares offline
# from a manual folder: tests/data/sources/test_imagenet2012_prepared.py.
@pytest.mark.parametrize("name, split, expected_classes", [("caltech101", "train", 101)])
def test_tfds_sources_offline(name, split, expected_classes, tmp_path):
    with tfds.testing.mock_data(num_examples=6):
        loaded = load_data(DataSource(name, str(tmp_path), split=split), 32)
        examples = list(loaded.dataset.as_numpy_iterator())
    assert len(loaded.class_names) == expected_classes
    assert len(examples) == loaded.num_examples > 0
    assert all(image.shape == (32, 32, 3) and 0 <= label < expected_classes for image, label in examples)
    assert loaded.report()["skipped_files"] == 0


def test_class_names_come_without_reading_any_example(unreadable_class_folder, tmp_path):
    root, _ = unreadable_class_folder
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # listing or checking files would warn about the bad ones
        assert class_names(DataSource("folder", root)) == ("cats", "dogs")
    # TFDS' metadata: nothing is downloaded or prepared.
    tfds_dir = tmp_path / "tfds"
    caltech = class_names(DataSource("caltech101", str(tfds_dir)))
    assert len(caltech) == 101 and "background_google" not in caltech and "accordion" in caltech
    assert not tfds_dir.exists() or not any(tfds_dir.iterdir())
    assert len(class_names(DataSource("caltech101", str(tfds_dir), include_background=True))) == 102
    assert class_names(DataSource("imagenet2012"))[281] == "tabby"
    assert class_names(DataSource("digits")) == tuple("0123456789")


def test_bad_sources_are_named_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        DataSource("mnist")
    with pytest.raises(ValueError, match="split"):
        DataSource("digits", split="validation")
    with pytest.raises(ValueError, match="needs data_dir"):
        DataSource("folder")
    with pytest.raises(ValueError, match="no split 'all'"):
        DataSource("imagenet2012", split="all")
    with pytest.raises(ValueError, match="limit"):
        DataSource("digits", limit=0)
    with pytest.raises(ValueError, match="does not apply to 'digits'"):
        DataSource("digits", exclude_file="x.txt")
    with pytest.raises(ValueError, match="embedded: it takes no data_dir"):
        DataSource("digits", "test")  # a split given where the folder goes
    with pytest.raises(TypeError):
        DataSource("folder", "/photos", "train")  # everything after data_dir goes by name
    with pytest.raises(ValueError, match="image folder not found: .*nothing"):
        load_data(DataSource("folder", str(tmp_path / "nothing")))
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_text("text")
    with pytest.warns(SkippedFilesWarning), pytest.raises(ValueError, match="has no readable images"):
        load_data(DataSource("folder", str(tmp_path)))
    assert not os.environ.get("TFDS_DATA_DIR")  # nothing here points TFDS at a real download
