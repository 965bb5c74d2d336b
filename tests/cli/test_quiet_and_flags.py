"""Every command: quiet by default (no TensorFlow start-up lines, also while TensorFlow
loads), `zfnet-tf --verbose` shows them; every numeric flag is checked on the command line
(one line naming the flag, exit 2); a file named .keras that is not one is called so."""

import os
import re
import subprocess
import sys

import pytest

import zfnet_tf
from zfnet_tf.cli.main import main
from zfnet_tf.progress import is_startup_log_line

pytestmark = pytest.mark.heavy(12)


def zfnet_tf_process(*args):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(zfnet_tf.__file__)))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run([sys.executable, "-m", "zfnet_tf.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def log_lines(text):
    return [line for line in text.splitlines() if is_startup_log_line(line) or "cuInit" in line]


def test_project_help_prints_no_tensorflow_log_line():
    completed = zfnet_tf_process("project", "--help")
    assert completed.returncode == 0 and "usage: zfnet-tf project" in completed.stdout
    assert log_lines(completed.stdout + completed.stderr) == []


def test_a_command_that_loads_tensorflow_prints_only_its_error(tmp_path):
    fake = tmp_path / "model.keras"
    fake.write_text("not a zip archive\n")
    completed = zfnet_tf_process("evaluate", "--model", str(fake), "--dataset", "digits")
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        f"zfnet-tf evaluate: error: {fake} is not a Keras model file (a .keras file is a zip archive)"
    ]
    # With --verbose, TensorFlow's own lines are there (so this test could see them): the
    # process of tests/cli/test_unreadable_files.py::test_the_command_line_warning_names_each_file.


@pytest.mark.parametrize("argv, flag, value", [
    (["correspondence", "--preset", "tiny"], "--limit", "-1"),
    (["top9", "--preset", "tiny"], "--k", "0"),
    (["occlusion", "--preset", "tiny"], "--stride", "two"),
    (["filters", "--preset", "tiny"], "--dead-fraction", "-0.1"),
    (["evaluate", "--model", "m.keras"], "--max-examples", "0"),
    (["demo"], "--epochs", "-3"),
    (["transfer", "--preset", "tiny", "--dataset", "digits", "--out", "o"], "--softmax-c", "inf"),
    (["transfer", "--preset", "tiny", "--dataset", "digits", "--out", "o"], "--train-per-class", "0"),
    (["client", "classify", "--images", "x.png"], "--top", "0"),
    (["explore", "--model_server", "h:1", "--model_name", "m"], "--timeout", "0"),
    (["train", "--model-dir", "m"], "--validation-steps", "0"),
])
def test_numeric_flags_are_checked(argv, flag, value, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*argv, flag, value])
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"error: argument {flag}: must be " in error and value in error, error


def test_a_slow_step_says_so_in_plain_lines(tmp_path):
    """A slow step (here `project`'s projections and its figure) announces itself and, when it
    ends, its duration; output to a pipe has no escape codes and no TensorFlow lines.
    (`export`'s own announcement: tests/cli/test_export.py, on that file's one export.)"""
    out = tmp_path / "out"
    completed = zfnet_tf_process("project", "--preset", "tiny", "--layers", "1", "--out", str(out))
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = [re.sub(r": done in \d+ s$", ": done in N s", line) for line in completed.stderr.strip().splitlines()]
    assert lines == [f"{step}{end}" for step in ("projecting layer 1 of 4 image(s)", "drawing the projections figures")
                     for end in (" ...", ": done in N s")]
    assert completed.stdout.strip() == f"wrote {out / 'projections.png'}"
    assert "\x1b[" not in completed.stdout + completed.stderr and log_lines(completed.stderr) == []
