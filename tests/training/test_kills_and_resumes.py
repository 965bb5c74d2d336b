"""A real `zfnet-tf train` process killed with SIGKILL at several points (mid-epoch, in the
middle of a CSV row, and after an epoch is recorded everywhere and its weights backed up but
before the backup's commit, two epochs into a start) and resumed each time; then the same
command, run plainly (in this process: what it resumes from is on disk, the kills were real),
resumes after the last committed epoch and runs only the missing ones: in the end the CSV
history, the checkpoints and TensorBoard hold each epoch once."""

import collections
import csv
import glob
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import zfnet_tf
from support.cli import run_main
from zfnet_tf.training.callbacks import EpochBackup

pytestmark = pytest.mark.heavy(26)

EPOCHS = 4
HARNESS = os.path.join(os.path.dirname(__file__), "kill_harness.py")


def arguments(model_dir):
    return [
        "train", "--preset", "tiny", "--dataset", "digits", "--recipe", "demo", "--epochs", str(EPOCHS),
        "--steps-per-epoch", "3", "--validation-steps", "1", "--batch-size", "16", "--model-dir", str(model_dir),
        "--verbose", "2", "--projection-layers", "1",
    ]


def run_killed(point, model_dir):
    """`zfnet-tf train ...` in a process of its own, killed at `point` (`kill_harness.py`)."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(zfnet_tf.__file__)))
    env.pop("TF_CONFIG", None)
    return subprocess.run([sys.executable, HARNESS, point, "--", *arguments(model_dir)], env=env,
                          capture_output=True, text=True, timeout=600)


def history_rows(model_dir):
    with open(model_dir / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def events_by_step(folder):
    """`{tag: {step: [values, ...]}}` over every event file in `folder`."""
    from tensorflow.core.util import event_pb2

    found = collections.defaultdict(lambda: collections.defaultdict(list))
    for path in glob.glob(os.path.join(folder, "events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                found[value.tag][event.step].append(tf.make_ndarray(value.tensor))
    return found


def test_each_epoch_recorded_once_after_kills_and_resumes(tmp_path, capsys):
    model_dir = tmp_path / "run"
    backup = str(model_dir / "backup")
    # (where this start dies, epochs committed after it)
    kills = [
        ("batch:0:1", 0),  # in the middle of epoch 1: nothing committed yet
        ("csvrow:1", 1),  # epoch 2's CSV row cut short (its checkpoint and TensorBoard written)
        # Epochs 2 and 3 committed by this start; epoch 4 recorded everywhere and its weights
        # backed up, but state.json, the commit, still a temporary file.
        ("replace:state.json:3", 3),
    ]
    for point, committed in kills:
        completed = run_killed(point, model_dir)
        assert completed.returncode == -9, (point, completed.stderr[-2000:])
        assert EpochBackup.finished_epochs(backup) == committed, point
        assert not os.path.exists(model_dir / "model.keras")

    code, stdout, stderr = run_main(arguments(model_dir), capsys)
    assert code == 0, stderr[-3000:]
    assert "resumed after epoch 3" in stdout
    # The resumed run ran only the missing epochs.
    started = re.findall(rf"^Epoch (\d+)/{EPOCHS}$", stdout, flags=re.MULTILINE)
    assert [int(e) for e in started] == list(range(4, EPOCHS + 1))
    assert os.path.isfile(model_dir / "model.keras")

    rows = history_rows(model_dir)
    assert [int(row["epoch"]) for row in rows] == list(range(EPOCHS))
    for run_name, prefix in (("train", ""), ("validation", "val_")):
        losses = events_by_step(str(model_dir / "logs" / run_name))["epoch_loss"]
        assert {step: len(values) for step, values in losses.items()} == {e: 1 for e in range(EPOCHS)}
        # The TensorBoard value and the CSV row of each epoch come from the same run of it.
        np.testing.assert_allclose(
            [float(losses[e][0]) for e in range(EPOCHS)], [float(row[f"{prefix}loss"]) for row in rows], rtol=1e-5
        )
    images = events_by_step(str(model_dir / "logs" / "images"))
    assert {step: len(values) for step, values in images["layer1_filters"].items()} == {
        e: 1 for e in range(1, EPOCHS + 1)}
    assert {step: len(values) for step, values in images["probe/images"].items()} == {0: 1}
    checkpoints = sorted(os.path.basename(p) for p in glob.glob(str(model_dir / "checkpoints" / "epoch-*.keras")))
    assert checkpoints == [f"epoch-{e:03d}.keras" for e in range(EPOCHS - 2, EPOCHS + 1)]  # the recipe keeps 3
    for name in checkpoints:
        assert zfnet_tf.load_model(str(model_dir / "checkpoints" / name)).num_classes == 10
    assert sorted(os.listdir(backup)) == [f"epoch-{EPOCHS:03d}.weights.h5", "state.json"]
    leftovers = [p for p in glob.glob(str(model_dir / "**" / ".*"), recursive=True) if ".tmp" in p]
    assert leftovers == []
