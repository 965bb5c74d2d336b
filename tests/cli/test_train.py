"""`zfnet-tf train`: bad flags exit 2 with a message. (A run killed with SIGKILL, at each point
that matters, and resumed by the same command: tests/training/test_kills_and_resumes.py.)"""

import os
import runpy
import sys

import pytest

from zfnet_tf.cli.main import main


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


def test_tools_script_is_the_same_command(tmp_path, capsys, monkeypatch):
    """tools/train.py is `zfnet-tf train`: the same flags reach the same checks (a bad one
    exits 2 naming it, before any data is read or a model built)."""
    script = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "train.py")
    monkeypatch.setattr(sys, "argv", [script, "--preset", "tiny", "--dataset", "folder",
                                      "--model-dir", str(tmp_path / "m"), "--epochs", "1"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(script, run_name="__main__")
    assert exited.value.code == 2
    assert "needs data_dir" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
