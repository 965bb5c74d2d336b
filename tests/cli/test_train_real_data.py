"""`zfnet-tf train` on real image files, for several epochs: a folder of class sub-folders
(with and without train/ and val/), and local Caltech-101 and -256 folders with epochs shorter
than one pass. Each run writes model.keras, and its validation reads every validation image
every epoch. The command runs in this process (stdout captured: not a terminal); the
projections are of layer 1 only (the data is under test here, not the figures)."""

import csv
import json
import os

import pytest

import zfnet_tf
from support.cli import run_main

pytestmark = pytest.mark.heavy(16)

EPOCHS = 2  # an image folder once failed at its second epoch


def train(capsys, data_dir, model_dir, dataset="folder", *extra):
    """`zfnet-tf train ...` -> the history's rows and what it printed."""
    code, stdout, stderr = run_main([
        "train", "--preset", "tiny", "--dataset", dataset, "--data-dir", data_dir, "--epochs", EPOCHS,
        "--batch-size", 16, "--model-dir", model_dir, "--projection-layers", 1, *extra,
    ], capsys)
    assert code == 0, stderr[-3000:]
    with open(os.path.join(model_dir, "history.csv"), newline="") as handle:
        return list(csv.DictReader(handle)), stdout


def counted(accuracy, images):
    """`accuracy` is a count of hits over `images` images (not over fewer, nor over more)."""
    hits = float(accuracy) * images
    return abs(hits - round(hits)) < 1e-3 * images


def test_a_folder_of_class_folders(tmp_path, class_folders, capsys, recwarn):
    data = class_folders(tmp_path / "images", {"a": 20, "b": 20, "c": 20}, extension=".jpg", size=48)
    model_dir = tmp_path / "run"
    rows, stdout = train(capsys, data, model_dir)
    # The validation images end where they end: Keras does not call that running out of data.
    assert not [w for w in recwarn if "ran out of data" in str(w.message)]
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    # No split folders: the same 60 images validate, all of them every epoch.
    assert all(counted(r["val_accuracy"], 60) for r in rows)
    model = zfnet_tf.load_model(str(model_dir / "model.keras"))
    assert list(model.class_names) == ["a", "b", "c"]
    # Not a terminal: Keras' one line per epoch, no progress bar's escape codes.
    assert f"Epoch {EPOCHS}/{EPOCHS}" in stdout and "\x1b[" not in stdout


def test_train_and_val_folders_validate_on_val_without_a_file_only_the_decoder_refuses(tmp_path, class_folders, capsys):
    """A PNG whose chunks are intact and whose pixels are not passes the listing's checks and is
    dropped when decoded: validation on val/ then has one image fewer than its listing, every
    epoch, and the last epoch's validation is what evaluate says of the final model."""
    from support.class_images import png_with_a_bad_stream

    root = tmp_path / "images"
    class_folders(root / "train", {"a": 20, "b": 20, "c": 20}, extension=".png", size=48)
    class_folders(root / "val", {"a": 8, "b": 8, "c": 8}, extension=".png", size=48)
    (root / "val" / "b" / "b_007.png").write_bytes(png_with_a_bad_stream(48))
    model_dir = tmp_path / "run"
    rows, _ = train(capsys, root, model_dir)
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    assert all(counted(r["val_accuracy"], 23) for r in rows)
    with open(model_dir / "run.json") as handle:
        assert json.load(handle)["data"]["test"]["num_examples"] == 24  # as listed
    # The last epoch's validation is the final model on val/: what evaluate says of it.
    out = tmp_path / "errors.json"
    code, _, stderr = run_main(["evaluate", "--model", model_dir / "model.keras", "--dataset", "folder",
                                "--data-dir", root, "--out", out], capsys)
    assert code == 0, stderr[-3000:]
    with open(out) as handle:
        result = json.load(handle)["results"][0]
    assert result["num_examples"] == 23
    assert 1 - result["top1_error"] == pytest.approx(float(rows[-1]["val_accuracy"]), abs=1e-6)


def test_caltech101_folder_with_short_epochs(tmp_path, class_folders, capsys):
    caltech = tmp_path / "caltech" / "101_ObjectCategories"
    class_folders(caltech, {"accordion": 20, "airplanes": 20, "anchor": 20, "BACKGROUND_Google": 6},
                  extension=".jpg", size=48)
    model_dir = tmp_path / "run"
    rows, _ = train(capsys, caltech.parent, model_dir, "caltech101", "--steps-per-epoch", 1, "--validation-steps", 1)
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    # Up to 30 images a class train (here 19 of 20), the rest test: 3 images, in one batch.
    assert all(counted(r["val_accuracy"], 3) for r in rows)
    model = zfnet_tf.load_model(str(model_dir / "model.keras"))
    assert list(model.class_names) == ["accordion", "airplanes", "anchor"]  # no BACKGROUND_Google
    with open(model_dir / "run.json") as handle:
        data = json.load(handle)["data"]
    assert (data["train"]["num_examples"], data["test"]["num_examples"]) == (57, 3)


def test_caltech256_folder(tmp_path, class_folders, capsys):
    caltech = tmp_path / "256_ObjectCategories"
    class_folders(caltech, {"001.ak47": 62, "002.american-flag": 62, "257.clutter": 5}, extension=".jpg", size=40)
    model_dir = tmp_path / "run"
    rows, _ = train(capsys, caltech, model_dir, "caltech256", "--steps-per-epoch", 2)
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    # 60 images a class train, the other 2 test: 4 validation images every epoch.
    assert all(counted(r["val_accuracy"], 4) for r in rows)
    assert list(zfnet_tf.load_model(str(model_dir / "model.keras")).class_names) == ["001.ak47", "002.american-flag"]
