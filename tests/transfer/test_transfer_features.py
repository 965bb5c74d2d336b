"""Frozen-feature extraction: the backbone's numbers, one forward pass, the cache."""

import math
import os

import keras
import numpy as np
import pytest

import zfnet_tf
from support.class_images import png_with_a_bad_stream
from zfnet_tf.data import DataSource, SkippedFilesWarning, image_collection, load_image_file
from zfnet_tf.transfer import (
    FeatureCache,
    FeatureExtractor,
    TransferExperiment,
    TransferParams,
)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    from support.class_images import write_class_folders

    root = write_class_folders(tmp_path_factory.mktemp("pool"), {"a": 7, "b": 7, "c": 7})
    return image_collection(DataSource("folder", root, split="all"))


def test_features_are_the_backbone_output_in_pool_order(tiny_backbone_model, pool):
    extractor = FeatureExtractor(tiny_backbone_model, batch_size=8)
    features = extractor.extract(pool)
    assert features.shape == (21, 256) and features.dtype == np.float32
    assert extractor.feature_layer == "fc7"
    indices = [20, 3, 11]
    images = np.stack(list(pool.images(indices, 64).as_numpy_iterator()))
    fc7 = tiny_backbone_model.backbone.feature_extractor(["fc7"])(images)["fc7"]
    np.testing.assert_allclose(features[indices], keras.ops.convert_to_numpy(fc7), rtol=1e-5, atol=1e-5)
    assert extractor.batches_processed == 3 and extractor.images_processed == 21


def test_features_follow_the_models_evaluation_transform(pool):
    """A model whose config resizes to 80 and crops 64 (as imported ImageNet models do with
    256 / 224) gets the features of the images so prepared, not of whole images."""

    keras.utils.set_random_seed(0)
    model = zfnet_tf.build_model("tiny", num_classes=3, resize_size=80)
    features = FeatureExtractor(model, batch_size=8).extract(pool)
    indices = [0, 20]
    cropped = np.stack([load_image_file(pool.sources[i], 64, 80) for i in indices])
    whole = np.stack([load_image_file(pool.sources[i], 64) for i in indices])
    expected, uncropped = (keras.ops.convert_to_numpy(model.backbone(x, training=False)) for x in (cropped, whole))
    np.testing.assert_allclose(features[indices], expected, rtol=1e-5, atol=1e-5)
    assert np.abs(features[indices] - uncropped).max() > 1e-2


def test_all_splits_and_sizes_cost_one_forward_pass_and_the_disk_cache_costs_none(
    tiny_backbone_model, pool, tmp_path
):
    protocol = TransferParams(train_per_class=(2, 3, 4), test_per_class=None, splits=3,
                              feature_batch_size=5, scratch_epochs=0)
    first = TransferExperiment(tiny_backbone_model, protocol, FeatureCache(tmp_path))
    results = first.run(pool)
    one_pass = math.ceil(len(pool) / 5)
    assert first.extractor.batches_processed == one_pass
    assert first.extractor.images_processed == len(pool)
    assert results.summary["feature_extraction"]["forward_batches"] == one_pass
    assert results.summary["feature_extraction"]["source"] == "computed"
    (cached_file,) = os.listdir(tmp_path)
    assert cached_file.startswith("features-") and cached_file.endswith(".npz")

    # The same experiment again in this process: the in-memory cache answers.
    first.run(pool)
    assert first.extractor.batches_processed == one_pass
    assert first.feature_cache.last_source == "memory"

    # A new process would start from the disk cache: no forward pass at all.
    second = TransferExperiment(tiny_backbone_model, protocol, FeatureCache(tmp_path))
    again = second.run(pool)
    assert second.extractor.batches_processed == 0
    assert again.summary["feature_extraction"]["source"] == "disk"
    np.testing.assert_array_equal(again.features, results.features)
    assert again.summary["methods"] == results.summary["methods"]


def test_cache_key_follows_the_weights_and_the_image_list(tiny_backbone_model, pool):
    cache = FeatureCache()
    extractor = FeatureExtractor(tiny_backbone_model)
    key = cache.key(extractor, pool)
    keras.utils.set_random_seed(1)
    other_weights = zfnet_tf.build_model("tiny")
    assert cache.key(FeatureExtractor(other_weights), pool) != key
    fewer = pool.replace(names=pool.names[:-1], labels=pool.labels[:-1], sources=pool.sources[:-1])
    assert cache.key(extractor, fewer) != key
    assert cache.key(FeatureExtractor(tiny_backbone_model), pool) == key


def test_unreadable_files_leave_the_pool_and_the_rows_stay_aligned(tiny_backbone_model, tmp_path, class_folders):
    root = class_folders(tmp_path / "images", {"a": 3, "b": 3})
    broken = os.path.join(root, "b", "b_001.png")
    with open(broken, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.warns(SkippedFilesWarning, match="b_001.png"):
        collection = image_collection(DataSource("folder", root, split="all"))
    assert [s.path for s in collection.skipped] == [broken] and len(collection) == 5
    features = FeatureExtractor(tiny_backbone_model, batch_size=2).extract(collection)
    row = collection.names.index("b/b_002.png")
    image = load_image_file(os.path.join(root, "b", "b_002.png"), 64)[None]
    expected = keras.ops.convert_to_numpy(tiny_backbone_model.backbone(image, training=False))
    np.testing.assert_allclose(features[row], expected[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=f"{broken}: broken PNG header"):
        image_collection(DataSource("folder", root, split="all", strict=True))


def test_a_file_only_decoding_finds_bad_is_named(tiny_backbone_model, tmp_path, class_folders):
    """Features must stay aligned with names, so a file that passes the listing's check but
    fails TensorFlow's decoder is an error naming it, not a silently shorter array."""
    root = class_folders(tmp_path / "images", {"a": 3, "b": 3})
    bad = os.path.join(root, "a", "a_001.png")
    with open(bad, "wb") as handle:
        handle.write(png_with_a_bad_stream())
    collection = image_collection(DataSource("folder", root, split="all"))
    assert len(collection) == 6
    with pytest.raises(ValueError, match=f"cannot decode image {bad}: "):
        FeatureExtractor(tiny_backbone_model, batch_size=2).extract(collection)
