"""Every fetch over the network, without a network: one line naming what could not be fetched
and what to do instead, exit 2 (Keras' ImageNet weights, an unprepared TFDS dataset; pytorchcv's
weights: tests/cli/test_pretrained_command.py). The commands run in this process (a real
process's exit code and quiet start: tests/cli/test_quiet_and_flags.py) with every HTTP(S)
request sent to a local port that refuses connections, and empty caches: an empty home, Keras'
and TFDS' folders in it."""

import os
import socket
import urllib.request
from types import SimpleNamespace

import pytest

from support.cli import run_main
from zfnet_tf.fetching import FetchError, fetching, is_network_error


@pytest.fixture
def offline(tmp_path, monkeypatch, capfd):
    """`run(*argv)` -> `(exit code, stdout, stderr)` of `zfnet-tf ARGV` with no network."""
    import keras.src.backend.config
    import tensorflow_datasets as tfds

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # Keras and TFDS read KERAS_HOME and TFDS_DATA_DIR when they load: their folders, set here.
    monkeypatch.setattr(keras.src.backend.config, "_KERAS_DIR", str(tmp_path / "keras"))
    monkeypatch.setattr(tfds.core.constants, "DATA_DIR", str(tmp_path / "tfds"))
    for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, f"http://127.0.0.1:{port}")
    for variable in ("NO_PROXY", "no_proxy", "TF_CONFIG"):
        monkeypatch.delenv(variable, raising=False)
    # urllib's opener (Keras' downloads) reads the proxies when it is first built: a new one.
    monkeypatch.setattr(urllib.request, "_opener", None)
    # TensorFlow's device start-up (its cuInit line where there is no GPU) is the process's,
    # not the command's: it happens here, before the command's output is read.
    keras.ops.convert_to_numpy(keras.ops.ones(1))

    def run(*args):
        code, out, err = run_main(args, capfd)
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return run


def assert_one_line_error(completed, command, *parts):
    assert completed.returncode == 2, completed.stderr[-3000:]
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert lines[-1].startswith(f"zfnet-tf {command}: error: could not fetch "), lines
    for part in parts:
        assert part in lines[-1], lines[-1]
    return lines


def test_keras_imagenet_weights(offline, tmp_path):
    completed = offline("project", "--keras-application", "MobileNet", "--weights", "imagenet",
                        "--out", str(tmp_path / "out"))
    lines = assert_one_line_error(completed, "project", "Keras' ImageNet weights of MobileNet",
                                  "--weights none")
    assert len(lines) == 1
    assert not os.path.exists(tmp_path / "out")


def test_keras_weights_auto_falls_back_to_random_with_a_note(offline, tmp_path):
    # MobileNet at 128 (a size its ImageNet weights come in): Keras builds the network before
    # it fetches, so the fallback builds it twice; VGG16 would be 138M parameters twice.
    completed = offline("project", "--keras-application", "MobileNet", "--input-size", "128",
                        "--out", str(tmp_path / "out"), "--layer", "conv1")
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stderr.startswith("note: Keras' ImageNet weights of MobileNet could not be fetched (")
    assert "using random weights" in completed.stderr


def test_unprepared_tfds_dataset(offline, tmp_path):
    completed = offline("train", "--preset", "tiny", "--dataset", "caltech101", "--data-dir",
                        str(tmp_path / "tfds"), "--model-dir", str(tmp_path / "run"))
    lines = assert_one_line_error(completed, "train", "the TFDS dataset caltech101",
                                  "101_ObjectCategories/ folder")
    assert lines[0].startswith("preparing TFDS caltech101") and len(lines) == 2
    assert not os.path.exists(tmp_path / "run")


def test_imagenet_without_its_archives(offline, tmp_path):
    (tmp_path / "manual").mkdir()
    completed = offline("train", "--preset", "tiny", "--dataset", "imagenet2012", "--data-dir",
                        str(tmp_path / "manual"), "--model-dir", str(tmp_path / "run"))
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines()[-1] == (
        f"zfnet-tf train: error: imagenet2012 is not prepared in {tmp_path / 'tfds'} and "
        f"{tmp_path / 'manual'} holds neither ILSVRC2012_img_train.tar nor ILSVRC2012_img_val.tar: "
        "download them from image-net.org into a folder and give it as --data-dir"
    )


def test_fetching_turns_only_network_failures_into_fetch_errors():
    import urllib.error

    with pytest.raises(FetchError, match=r"could not fetch the thing \(URLError: .*refused.*\); use a file"):
        with fetching("the thing", "use a file"):
            try:
                raise ConnectionRefusedError(111, "Connection refused")
            except OSError as error:
                raise Exception("URL fetch failure on https://x: None") from urllib.error.URLError(error)
    with pytest.raises(KeyError):
        with fetching("the thing", "use a file"):
            raise KeyError("not a network problem")
    assert not is_network_error(ValueError("bad shape"))
    assert isinstance(FetchError("a", "b", "c"), ValueError)  # the CLI's exit 2
