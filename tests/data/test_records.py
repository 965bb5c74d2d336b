"""`data_record`: the one record of what was read, as the data layer, the analyses and the
transfer protocol write it."""

import numpy as np
import pytest

from zfnet_tf.data import DataSource, SkippedFilesWarning, data_record, image_collection, load_data


def test_a_source_read_by_name_and_images_given_directly():
    assert data_record("arrays", 6) == {"source": "arrays", "num_examples": 6}
    record = data_record(DataSource("digits", split="train"), 3, "scikit-learn digits")
    assert record == {
        "source": "digits[train]", "num_examples": 3, "dataset": "digits", "split": "train", "data_dir": None,
        "origin": "scikit-learn digits", "excluded_images": 0, "unmatched_exclusions": [], "skipped_files": 0,
        "skipped": [],
    }


def test_the_pipeline_the_listing_and_an_analysis_record_the_same(unreadable_class_folder, tiny_model):
    from zfnet_tf.analysis.data import analysis_data
    from zfnet_tf.models import image_transform

    root, bad = unreadable_class_folder
    source = DataSource("folder", root, split="train")
    with pytest.warns(SkippedFilesWarning):
        listed = image_collection(source).report()
    with pytest.warns(SkippedFilesWarning):
        loaded = load_data(source, 16).report()
    with pytest.warns(SkippedFilesWarning):
        analysed = analysis_data(source, tiny_model).summary()
    assert listed == loaded == analysed
    assert listed["source"] == "folder[train]" and listed["num_examples"] == 16
    assert listed["skipped_files"] == len(bad) == 3 and listed["origin"] == root
    size, _ = image_transform(tiny_model)
    arrays = analysis_data(np.zeros((2, size, size, 3), np.float32), tiny_model).summary()
    assert arrays == {"source": "arrays", "num_examples": 2}
