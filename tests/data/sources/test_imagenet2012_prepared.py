"""imagenet2012 through TFDS' real builder, prepared offline from a small manual folder in the
layout of the real archives (`tests/support/imagenet_manual.py`), then the main job on it through
`zfnet-tf`'s commands: `train` for several epochs, `evaluate` (checked against the model on the
validation JPEGs read straight from the archive), `top9` on the training split, and `transfer`
of the trained network to a local Caltech-101 folder. The commands run in this process (the
entry point's own process: tests/cli/test_quiet_and_flags.py), with TFDS' data folder, which it
reads from TFDS_DATA_DIR when it loads, set to the test's own."""

import csv
import json
import os
import tarfile
from types import SimpleNamespace

import numpy as np
import pytest

import zfnet_tf
from support.imagenet_manual import VALIDATION_TAR, write_imagenet_manual_folder
from support.cli import run_main

EPOCHS = 3
IMAGES_PER_CLASS = 6
NUM_VALIDATION = 6

pytestmark = pytest.mark.heavy(15)


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    import tensorflow_datasets as tfds

    root = tmp_path_factory.mktemp("imagenet")
    manual = write_imagenet_manual_folder(root / "manual", IMAGES_PER_CLASS, NUM_VALIDATION)

    def run(*args):
        code, out, err = run_main(args, None)
        assert code == 0, err[-3000:]
        return SimpleNamespace(stdout=out, stderr=err)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tfds.core.constants, "DATA_DIR", str(root / "tfds"))
        patch.delenv("TF_CONFIG", raising=False)
        model_dir = root / "run"
        trained = run("train", "--preset", "tiny", "--dataset", "imagenet2012", "--data-dir", manual["folder"],
                      "--epochs", str(EPOCHS), "--batch-size", "8", "--learning-rate", "0.02",
                      "--model-dir", str(model_dir),
                      # The data source is under test here, not the TensorBoard and Fig. 4 figures.
                      "--projection-layers", "1")
        yield {**manual, "root": root, "run": run, "model_dir": model_dir, "train_output": trained}


def test_train_prepares_once_and_runs_every_epoch(imagenet):
    model_dir = imagenet["model_dir"]
    assert "preparing TFDS imagenet2012 from" in imagenet["train_output"].stderr
    assert os.path.isdir(imagenet["root"] / "tfds" / "imagenet2012")
    with open(model_dir / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    # The whole validation split every epoch: a count of hits over its 6 images.
    assert all(abs(float(r["val_accuracy"]) * NUM_VALIDATION % 1) < 1e-4 for r in rows)
    with open(model_dir / "run.json") as handle:
        data = json.load(handle)["data"]
    classes = len(imagenet["wordnet_ids"])
    assert (data["train"]["num_examples"], data["test"]["num_examples"]) == (classes * IMAGES_PER_CLASS, NUM_VALIDATION)
    model = zfnet_tf.load_model(str(model_dir / "model.keras"))
    assert len(model.class_names) == 1000 and model.class_names[0] == "tench"


def validation_images(folder):
    """The validation JPEGs straight from the archive, in name order."""
    with tarfile.open(os.path.join(folder, VALIDATION_TAR)) as archive:
        members = sorted(archive.getmembers(), key=lambda m: m.name)
        data = [archive.extractfile(m).read() for m in members]
    return data


def test_evaluate_matches_the_model_on_the_archive_images(imagenet, tmp_path):
    from zfnet_tf.data import load_image_files
    from zfnet_tf.data.sources.imagenet import imagenet_classes
    from zfnet_tf.models import image_transform

    out = tmp_path / "errors.json"
    imagenet["run"]("evaluate", "--model", str(imagenet["model_dir"] / "model.keras"), "--dataset",
                    "imagenet2012", "--data-dir", imagenet["folder"], "--out", str(out))
    with open(out) as handle:
        result = json.load(handle)["results"][0]
    assert result["num_examples"] == NUM_VALIDATION

    paths = []
    for index, data in enumerate(validation_images(imagenet["folder"])):
        path = tmp_path / f"{index}.JPEG"
        path.write_bytes(data)
        paths.append(str(path))
    model = zfnet_tf.load_model(str(imagenet["model_dir"] / "model.keras"))
    images = load_image_files(paths, *image_transform(model))
    logits = model.predict(images, verbose=0)
    wordnet_ids = imagenet_classes().wordnet_ids
    labels = np.array([wordnet_ids.index(w) for w in imagenet["validation"]])
    ranked = np.argsort(-logits, axis=1)
    assert result["top1_error"] == pytest.approx(np.mean(ranked[:, 0] != labels), abs=1e-9)
    assert result["top5_error"] == pytest.approx(np.mean([l not in r[:5] for l, r in zip(labels, ranked)]), abs=1e-9)


def test_top9_over_the_training_split(imagenet, tmp_path):
    out = tmp_path / "top9"
    imagenet["run"]("top9", "--model", str(imagenet["model_dir"] / "model.keras"), "--dataset",
                    "imagenet2012", "--data-dir", imagenet["folder"], "--split", "train",
                    "--features", "0", "1", "--k", "4", "--out", str(out))
    with open(out / "top9_layer5.json") as handle:
        report = json.load(handle)
    train_size = len(imagenet["wordnet_ids"]) * IMAGES_PER_CLASS
    assert report["data"]["num_examples"] == report["num_images"] == train_size
    assert report["data"]["origin"] == "tfds:imagenet2012"
    assert report["projected_features"] == [0, 1] and len(report["maps"]) == 64  # tiny: 64 maps at layer 5
    for feature_map in report["maps"]:
        values = [entry["value"] for entry in feature_map["top"]]
        assert len(values) == 4 and values == sorted(values, reverse=True)
        assert all(0 <= entry["image"] < train_size for entry in feature_map["top"])
    assert os.path.getsize(out / "top9_layer5.png") > 0


def test_transfer_of_the_imagenet_network_to_a_caltech_folder(imagenet, tmp_path, class_folders):
    caltech = tmp_path / "caltech" / "101_ObjectCategories"
    class_folders(caltech, {"accordion": 8, "airplanes": 8, "anchor": 8, "BACKGROUND_Google": 4},
                  extension=".jpg", size=48)
    out = tmp_path / "transfer"
    imagenet["run"]("transfer", "--model", str(imagenet["model_dir"] / "model.keras"), "--dataset",
                    "caltech101", "--data-dir", str(caltech.parent), "--train-per-class", "2", "4",
                    "--test-per-class", "3", "--splits", "2", "--scratch-epochs", "2",
                    "--finetune-epochs", "2", "--out", str(out))
    with open(out / "transfer.json") as handle:
        report = json.load(handle)
    assert os.path.isfile(out / "classifier.keras") and "Caltech-101" in (out / "table.txt").read_text()
    assert (report["model"], report["num_classes"], report["num_images"]) == (
        str(imagenet["model_dir"] / "model.keras"), 3, 24)
    for method in ("softmax", "scratch", "finetune"):
        by_n = report["methods"][method]["by_train_per_class"]
        assert sorted(by_n) == ["2", "4"]
        assert all(r["test_images"] == [9, 9] and all(0 <= a <= 100 for a in r["splits"]) for r in by_n.values())
