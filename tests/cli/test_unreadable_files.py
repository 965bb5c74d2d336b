"""A class folder with a broken JPEG, a truncated JPEG and a text file named `.jpg`: every
command that reads a dataset skips each one, names it and counts it in its JSON output;
`--strict` makes it fail, naming the first."""

import json
import os
import subprocess
import sys

import pytest

from zfnet_tf.cli.main import main
from zfnet_tf.data import SkippedFilesWarning
from zfnet_tf.progress import is_startup_log_line

MODEL = ["--preset", "tiny"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from support.class_images import write_unreadable_class_folder

    return write_unreadable_class_folder(tmp_path_factory.mktemp("data") / "images")


def data_flags(root):
    return ["--dataset", "folder", "--data-dir", root]


def assert_reports_the_bad_files(report, bad):
    assert report["dataset"] == "folder" and report["num_examples"] == 16
    assert report["skipped_files"] == 3
    assert [entry["path"] for entry in report["skipped"]] == list(bad.values())
    reasons = [entry["reason"] for entry in report["skipped"]]
    assert reasons[0].startswith("broken JPEG header")
    assert reasons[1].startswith("not a JPEG, PNG, GIF, BMP or WebP image")
    assert reasons[2].startswith("truncated JPEG")


def run_warned(argv, bad):
    """`main(argv)`: it must succeed and warn once per dataset read, naming every bad file."""
    with pytest.warns(SkippedFilesWarning) as caught:
        assert main(argv) == 0
    skipped = [str(w.message) for w in caught if issubclass(w.category, SkippedFilesWarning)]
    for message in skipped:
        assert all(path in message for path in bad.values())
    return len(skipped)


# Each command, with the flags that make it quick, and the JSON file and key holding the report
# of the data it read (`None`: the report itself; a split name: the report of that split).
COMMANDS = {
    "transfer": (["--train-per-class", "2", "--test-per-class", "0", "--splits", "1", "--no-scratch",
                  "--quiet"], "transfer.json", "data", None),
    "top9": (["--layer", "2", "--features", "0", "1", "--limit", "100"], "top9_layer2.json", "data", None),
    "layer-features": (["--layers", "1", "7", "--classifiers", "softmax"], "layer_features.json", "data", "train"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_analyses_and_transfer_skip_name_and_count(command, folder, tmp_path, capsys):
    root, bad = folder
    flags, json_name, key, split = COMMANDS[command]
    out = tmp_path / "out"
    run_warned([command, *MODEL, *data_flags(root), *flags, "--out", str(out)], bad)
    report = json.loads((out / json_name).read_text())[key]
    assert_reports_the_bad_files(report[split] if split else report, bad)
    if split:  # layer-features reads both splits (here the same folder)
        assert_reports_the_bad_files(report["test"], bad)
    if command == "transfer":
        assert "skipped 3 unreadable file(s)" in capsys.readouterr().out


def test_train_skips_names_and_counts_in_run_json(folder, tmp_path, capsys):
    root, bad = folder
    model_dir = tmp_path / "run"
    argv = ["train", *MODEL, *data_flags(root), "--recipe", "demo", "--epochs", "1", "--steps-per-epoch", "2",
            "--validation-steps", "1", "--batch-size", "4", "--model-dir", str(model_dir), "--verbose", "0",
            "--projection-layers", "1"]
    assert run_warned(argv, bad) == 2  # the training and the validation split
    run = json.loads((model_dir / "run.json").read_text())
    assert_reports_the_bad_files(run["data"]["train"], bad)
    assert_reports_the_bad_files(run["data"]["test"], bad)
    assert "skipped 3 unreadable file(s)" in capsys.readouterr().out  # the same 3 in both splits
    assert (model_dir / "model.keras").is_file()


def test_evaluate_counts_in_its_json(folder, tmp_path, capsys):
    import keras

    import zfnet_tf

    root, bad = folder
    keras.utils.set_random_seed(0)
    model_path = str(tmp_path / "two_classes.keras")
    zfnet_tf.build_model("tiny", class_names=["cats", "dogs"]).save(model_path)
    out = tmp_path / "errors.json"
    run_warned(["evaluate", "--model", model_path, *data_flags(root), "--crops", "center", "--out", str(out)], bad)
    numbers = json.loads(out.read_text())
    assert_reports_the_bad_files(numbers["data"], bad)
    assert numbers["results"][0]["num_examples"] == 16


@pytest.mark.parametrize("command, extra", [
    ("transfer", ["--no-scratch", "--out", "OUT"]),
    ("train", ["--model-dir", "OUT", "--epochs", "1"]),
    ("top9", ["--out", "OUT"]),
    ("layer-features", ["--out", "OUT"]),
])
def test_strict_fails_naming_the_first_bad_file(command, extra, folder, tmp_path, capsys):
    root, bad = folder
    extra = [str(tmp_path / "out") if flag == "OUT" else flag for flag in extra]
    assert main([command, *MODEL, *data_flags(root), "--strict", *extra]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"zfnet-tf {command}: error: {bad['broken']}: broken JPEG header")
    assert not os.path.exists(tmp_path / "out")  # nothing written, not even the folder


def test_the_command_line_warning_names_each_file(folder, tmp_path):
    """In a terminal: one warning line a dataset read, then each file and why, no code location.
    The process also runs with `zfnet-tf --verbose`: TensorFlow's start-up lines are there too
    (the control of tests/cli/test_quiet_and_flags.py, whose commands show none without it)."""
    root, bad = folder
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    completed = subprocess.run(
        [sys.executable, "-m", "zfnet_tf.cli.main", "--verbose", "top9", *MODEL, *data_flags(root), "--layer", "1",
         "--features", "0", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stderr.splitlines()
    first = lines.index(next(line for line in lines if "warning: skipped" in line))
    assert lines[first] == f"zfnet-tf top9: warning: skipped 3 file(s) of folder[test] ({root}) that are not readable images or are over the pixel limit:"
    assert [line.split(": ")[0].strip() for line in lines[first + 1 : first + 4]] == list(bad.values())
    assert [line for line in lines if is_startup_log_line(line) or "cuInit" in line], completed.stderr
