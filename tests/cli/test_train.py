"""`zfnet-tf train`: a run killed with SIGKILL resumes from its last finished epoch and ends
with exactly the requested epochs; bad flags exit 2 with a message."""

import csv
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from zfnet_tf.cli.main import main
from zfnet_tf.training.callbacks import EpochBackup

pytestmark = pytest.mark.heavy(50)

EPOCHS = 5


def command(model_dir):
    return [
        sys.executable, "-m", "zfnet_tf.cli.main", "train", "--preset", "tiny", "--dataset", "digits",
        "--recipe", "demo", "--epochs", str(EPOCHS), "--steps-per-epoch", "8", "--validation-steps", "2",
        "--batch-size", "16", "--model-dir", str(model_dir), "--verbose", "2",
    ]


def finished_epochs(history):
    if not os.path.isfile(history):
        return []
    with open(history, newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def test_sigkill_then_the_same_command_resumes(tmp_path):
    model_dir = tmp_path / "run"
    history = str(model_dir / "history.csv")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    first = subprocess.Popen(command(model_dir), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while len(finished_epochs(history)) < 2:
            assert first.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline, "no epoch finished in time"
            time.sleep(0.05)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    recorded = finished_epochs(history)
    assert 2 <= len(recorded) < EPOCHS, recorded
    assert not os.path.exists(model_dir / "model.keras")
    # The kill may fall between an epoch's CSV row and its backup: then it runs again.
    committed = EpochBackup.finished_epochs(str(model_dir / "backup"))
    assert committed in (len(recorded) - 1, len(recorded))
    done = range(committed)

    second = subprocess.run(command(model_dir), env=env, capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"resumed after epoch {len(done)}" in second.stdout
    # Exactly the requested epochs, each once; the second process ran only the missing ones.
    assert finished_epochs(history) == list(range(EPOCHS))
    started = re.findall(rf"^Epoch (\d+)/{EPOCHS}$", second.stdout, flags=re.MULTILINE)
    assert [int(e) for e in started] == list(range(len(done) + 1, EPOCHS + 1))
    assert os.path.isfile(model_dir / "model.keras")


def test_bad_flags_exit_2_with_a_message(tmp_path, capsys):
    for flag, value in (("--epochs", "0"), ("--batch-size", "-4"), ("--learning-rate", "nan"),
                        ("--steps-per-epoch", "1.5"), ("--seed", "-1")):
        with pytest.raises(SystemExit) as exited:
            main(["train", "--preset", "tiny", "--dataset", "digits", "--model-dir", str(tmp_path), flag, value])
        assert exited.value.code == 2
        message = capsys.readouterr().err.strip().splitlines()[-1]
        assert message.startswith(f"zfnet-tf train: error: argument {flag}: must be "), message
        assert value in message
    assert main(["train", "--preset", "tiny", "--dataset", "folder", "--model-dir", str(tmp_path / "m"),
                 "--epochs", "1"]) == 2
    assert "needs data_dir" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--strategy", "tpu", "--model-dir", str(tmp_path)])


def test_tools_script_is_the_same_command(tmp_path):
    """tools/train.py is `zfnet-tf train`: the same flags reach the same checks (a bad one
    exits 2 naming it, before any data is read or a model built)."""
    script = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "train.py")
    completed = subprocess.run(
        [sys.executable, script, "--preset", "tiny", "--dataset", "folder", "--model-dir", str(tmp_path / "m"),
         "--epochs", "1"],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 2, completed.stderr[-2000:]
    assert "needs data_dir" in completed.stderr
    assert not (tmp_path / "m").exists()
