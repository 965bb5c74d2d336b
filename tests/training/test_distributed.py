"""tf.distribute in real processes: MirroredStrategy over 2 logical CPUs, and 2 workers on
127.0.0.1 with TF_CONFIG (the custom step loop)."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import zfnet_tf

pytestmark = pytest.mark.heavy(25)

TRAIN_ARGS = [
    "--preset", "tiny", "--dataset", "digits", "--recipe", "demo", "--epochs", "2",
    "--steps-per-epoch", "2", "--validation-steps", "1", "--batch-size", "16", "--verbose", "0",
    "--projection-layers", "1",  # the distribution is under test here, not the figures
]

# Virtual devices must exist before TensorFlow starts: split the CPU, then run the command.
MIRRORED_SCRIPT = """
import sys
from zfnet_tf.training.strategy import configure_virtual_cpus
configure_virtual_cpus(2)
import tensorflow as tf
from zfnet_tf.cli.main import main
from zfnet_tf.training import get_strategy
print("replicas", get_strategy("mirrored").num_replicas_in_sync, flush=True)
sys.exit(main(sys.argv[1:]))
"""


def environment(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **extra)
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def weights(path):
    return zfnet_tf.load_model(path).get_weights()


def test_mirrored_fit_over_two_logical_cpus(tmp_path):
    model_dir = tmp_path / "mirrored"
    completed = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, "train", *TRAIN_ARGS, "--strategy", "mirrored",
         "--model-dir", str(model_dir)],
        env=environment(), capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "replicas 2" in completed.stdout
    with open(model_dir / "history.csv") as handle:
        rows = handle.read().splitlines()
    assert len(rows) == 3  # header + 2 epochs
    trained = weights(str(model_dir / "model.keras"))
    assert all(np.all(np.isfinite(w)) for w in trained)


def test_two_workers_finish_with_identical_weights(tmp_path):
    model_dir = tmp_path / "multi"
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "zfnet_tf.cli.main", "train", *TRAIN_ARGS,
             "--strategy", "multi_worker", "--model-dir", str(model_dir)],
            env=environment(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for i in range(2)
    ]
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]

    chief = weights(str(model_dir / "model.keras"))
    other = weights(str(model_dir / "workers" / "worker-1" / "model.keras"))
    for a, b in zip(chief, other):
        np.testing.assert_array_equal(a, b)
    # Only the chief writes logs and checkpoints.
    assert os.path.isdir(model_dir / "logs" / "train")
    assert sorted(os.listdir(model_dir / "workers" / "worker-1")) == ["backup", "model.keras"]
    with open(model_dir / "history.csv") as handle:
        header, *rows = handle.read().splitlines()
    assert len(rows) == 2 and "val_loss" in header
    # The second epoch changed the weights (the chief's checkpoint of the first is older).
    first_epoch = weights(str(model_dir / "checkpoints" / "epoch-001.keras"))
    assert any(not np.array_equal(a, b) for a, b in zip(chief, first_epoch))
