"""Listed sources (`image_collection`): folders, exclusions, decoding in order, unknown sources.
Each source's own listing and split rule: tests/data/sources/."""

import os

import numpy as np
import pytest
from PIL import Image

from zfnet_tf.data import DataSource, image_collection, make_split


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


def test_images_decode_resize_and_follow_the_requested_order(tmp_path, class_folders):
    root = class_folders(tmp_path / "images", {"a": 2, "b": 2}, extension=".jpg", size=40)
    collection = pool("folder", root)
    images = np.stack(list(collection.images([3, 0], image_size=20).as_numpy_iterator()))
    assert images.shape == (2, 20, 20, 3) and images.dtype == np.float32
    first = np.asarray(Image.open(collection.sources[3]).convert("RGB").resize((20, 20), Image.BILINEAR))
    # JPEG and resampling filters differ slightly; the class colours do not.
    np.testing.assert_allclose(images[0].mean((0, 1)), first.mean((0, 1)), atol=6)


def test_unknown_dataset_and_missing_folder_are_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        pool("mnist", str(tmp_path))
    with pytest.raises(ValueError, match="needs data_dir"):
        pool("folder", None)
    with pytest.raises(ValueError, match="image folder not found"):
        pool("folder", str(tmp_path / "nothing"))
    with pytest.raises(ValueError, match="streams from TFDS"):
        image_collection(DataSource("imagenet2012"))
