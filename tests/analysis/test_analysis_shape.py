"""Every analysis has one shape: `Analysis(model, params).run(data) -> Result` with params
that name their bad argument, a result whose `to_json()` is plain JSON, and `save(out_dir)`
that writes its files atomically. One parametrized harness checks them all."""

import inspect
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from matplotlib.figure import Figure

import zfnet_tf
from zfnet_tf.analysis import (
    AnalysisData,
    Correspondence,
    CorrespondenceParams,
    FilterAnalysis,
    FilterParams,
    Invariance,
    InvarianceParams,
    LayerFeatures,
    LayerFeaturesParams,
    Occlusion,
    OcclusionParams,
    Projections,
    ProjectionsParams,
    Top9,
    Top9Params,
)
from zfnet_tf.transfer import TransferExperiment, TransferParams

IMAGES = np.random.RandomState(4).uniform(0, 255, (6, 64, 64, 3)).astype(np.float32)
LABELS = np.array([0, 1, 2, 0, 1, 2], np.int32)
BOXES = {"part": np.array([[4, 4, 20, 20], [8, 8, 24, 24], [4, 30, 20, 46], [30, 4, 46, 20], [20, 20, 36, 36], [40, 40, 56, 56]])}

# (analysis, params, how to run it on (images, labels), a bad field, its value, the files it writes)
CASES = {
    "top9": (Top9, Top9Params(layer=2, k=2, features=(0, 1), progress=False),
             lambda a, data: a.run(data), "k", 0, ["top9_layer2.png", "top9_layer2.json"]),
    "projections": (Projections, ProjectionsParams(layers=(1, 3), progress=False),
                    lambda a, data: a.run(data), "mode", "sum", ["projections.png", "projections.json"]),
    "occlusion": (Occlusion, OcclusionParams(patch_size=32, stride=32),
                  lambda a, data: a.run(data), "stride", 0, ["occlusion.png", "occlusion.json"]),
    "invariance": (Invariance, InvarianceParams(transforms=("rotation",), amounts={"rotation": [0, 90]}),
                   lambda a, data: a.run(data), "transforms", ("shear",), ["invariance.png", "invariance.json"]),
    "correspondence": (Correspondence, CorrespondenceParams(random_draws=1),
                       lambda a, data: a.run(AnalysisData.from_arrays(*data, boxes=BOXES)), "random_draws", -1,
                       ["correspondence.png", "correspondence.json"]),
    "filters": (FilterAnalysis, FilterParams(progress=False), lambda a, data: a.run(data), "dead_fraction", 1.0,
                ["filters.png", "filters_layer2.png", "filters.json"]),
    "layer_features": (LayerFeatures, LayerFeaturesParams(layers=(2, 7), classifiers=("softmax",), progress=False),
                       lambda a, data: a.run({"train": data, "test": data}), "classifiers", ("tree",),
                       ["layer_features.png", "layer_features.json"]),
    "transfer": (TransferExperiment, TransferParams(train_per_class=(1,), test_per_class=1, splits=2, scratch_epochs=0),
                 lambda a, data: a.run(data), "splits", 0,
                 ["fig9_accuracy.png", "table.txt", "classifier.keras", "transfer.json"]),
}


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return zfnet_tf.build_model("tiny", num_classes=3)


@pytest.fixture(scope="module")
def results(model):
    """Each analysis run once on the same six labelled images."""
    out = {}
    for name, (analysis, params, run, *_) in CASES.items():
        out[name] = run(analysis(model, params), (IMAGES, LABELS))
    return out


@pytest.mark.parametrize("name", CASES)
def test_params_are_frozen_and_a_bad_value_is_named(name, model):
    analysis, params, _, field, bad, _ = CASES[name]
    with pytest.raises(ValueError, match=rf"^{field} must"):
        params.replace(**{field: bad})
    with pytest.raises(ValueError, match=rf"^{field} must"):
        analysis(model, **{field: bad})  # keywords build the same params
    with pytest.raises(Exception, match="cannot assign"):
        setattr(params, field, bad)
    with pytest.raises(TypeError, match=f"params must be a {type(params).__name__}"):
        analysis(model, object())


@pytest.mark.parametrize("name", CASES)
def test_to_json_is_plain_json_with_the_params_and_the_data(name, results):
    params = CASES[name][1]
    record = results[name].to_json()
    assert json.loads(json.dumps(record, allow_nan=False)) == record
    assert record["analysis"] == results[name].kind
    assert record["params"] == params.to_json()
    # What was read; layer features read a train and a test set.
    read = [record["data"]] if name != "layer_features" else [record["data"]["train"], record["data"]["test"]]
    assert all(data == {"source": "arrays", "num_examples": 6} for data in read)


@pytest.mark.parametrize("name", CASES)
def test_save_writes_every_file_atomically(name, results, tmp_path, monkeypatch):
    expected = CASES[name][5]
    result = results[name]
    record = result.save(tmp_path)
    assert sorted(os.path.basename(p) for p in record["files"]) == sorted(expected)
    assert sorted(os.listdir(tmp_path)) == sorted(expected)  # no temporary file left
    on_disk = json.loads((tmp_path / expected[-1]).read_text())
    assert on_disk == record and on_disk == {**result.to_json(), "files": record["files"]}
    for png in (p for p in expected if p.endswith(".png")):
        with open(tmp_path / png, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"

    # A crash half-way through a figure leaves the files of the previous save as they were.
    before = {f: (tmp_path / f).read_bytes() for f in expected}

    def crash(self, path, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"half a PNG")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", crash)
    with pytest.raises(OSError, match="disk full"):
        result.save(tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted(expected)
    assert {f: (tmp_path / f).read_bytes() for f in expected} == before


@pytest.mark.parametrize("name", CASES)
def test_run_takes_the_data_alone(name):
    """Labels, boxes and splits travel with the data: `run(data)` is every analysis' one entry."""
    parameters = list(inspect.signature(CASES[name][0].run).parameters.values())
    assert [p.name for p in parameters] == ["self", "data"], parameters


@pytest.mark.parametrize("name", ["top9", "invariance", "layer_features"])
def test_arrays_a_dataset_and_a_dataset_name_are_one_input(name, model, results):
    """The same images as arrays and as a `tf.data.Dataset` give the same numbers; a dataset
    name loads that dataset through the model's evaluation transform."""
    analysis, params, run, *_ = CASES[name]
    dataset = tf.data.Dataset.from_tensor_slices((IMAGES, LABELS))
    from_dataset = run(analysis(model, params), dataset).to_json()
    from_arrays = results[name].to_json()
    assert "tf.data.Dataset" in json.dumps(from_dataset.pop("data"))
    from_arrays.pop("data")
    for record in (from_dataset, from_arrays):
        record.pop("timings_seconds", None), record.pop("seconds", None)
    assert from_dataset == from_arrays
    if name == "top9":
        from zfnet_tf.data import DataSource, load_data

        named = analysis(model, params).run(DataSource("digits", split="test", limit=7))
        digits = np.stack([image for image, _ in load_data(DataSource("digits", limit=7), 64).dataset])
        direct = analysis(model, params).run(digits)
        np.testing.assert_array_equal(named.values, direct.values)
        assert named.data["source"] == "digits[test]" and named.data["num_examples"] == 7
        assert named.data["skipped_files"] == 0
        assert named.image_names[3] == "digits[test][3]"


def test_a_dataset_name_is_read_in_one_place_and_its_skipped_files_are_counted(model, unreadable_class_folder):
    """`analysis_data` reads datasets through `zfnet_tf.data`: the files it skipped (a broken
    JPEG, a truncated one, a text file named .jpg) are named and counted in the result's JSON."""
    from zfnet_tf.data import DataSource, SkippedFilesWarning

    root, bad = unreadable_class_folder
    with pytest.warns(SkippedFilesWarning):
        result = Top9(model, CASES["top9"][1]).run(DataSource("folder", root, split="train"))
    data = result.to_json()["data"]
    assert data["source"] == "folder[train]" and data["num_examples"] == 16
    assert data["skipped_files"] == 3
    assert [entry["path"] for entry in data["skipped"]] == list(bad.values())
    assert result.num_images == 16
