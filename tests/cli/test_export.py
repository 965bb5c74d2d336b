"""`zfnet-tf export`: the next version of a .keras model, printed; clear errors for bad input."""

import os

import pytest

from zfnet_tf.cli.main import main

pytestmark = pytest.mark.heavy(45)


@pytest.fixture(scope="module")
def tiny_keras_file(tmp_path_factory):
    import keras

    import zfnet_tf

    keras.utils.set_random_seed(5)
    path = tmp_path_factory.mktemp("cli_export") / "tiny.keras"
    zfnet_tf.build_model("tiny").save(path)
    return path


def test_export_prints_the_next_version_and_keeps_the_old(tiny_keras_file, tmp_path, capsys):
    base = tmp_path / "saved_models" / "tiny"
    (base / "3" / "variables").mkdir(parents=True)
    (base / "3" / "saved_model.pb").write_bytes(b"an older version")
    assert main(["export", "--model", str(tiny_keras_file), "--base-path", str(base)]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == os.path.join(str(base), "4")
    assert sorted(os.listdir(base)) == ["3", "4"]
    assert (base / "3" / "saved_model.pb").read_bytes() == b"an older version"
    assert {"saved_model.pb", "variables", "assets.extra"} <= set(os.listdir(printed))
    assert os.stat(printed).st_mode & 0o777 == 0o755
    names = (base / "4" / "assets.extra" / "class_names.txt").read_text().splitlines()
    assert names == [f"class_{i}" for i in range(10)]


def test_export_errors_name_the_problem(tiny_keras_file, tmp_path, capsys):
    assert main(["export", "--model", str(tmp_path / "missing.keras"), "--base-path", str(tmp_path / "m")]) == 2
    assert "model file not found" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["export", "--model", str(tiny_keras_file), "--base-path", str(tmp_path / "file")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_keras_application_exported_by_layer_name_answers_over_rest(vgg16, tmp_path, capsys):
    """The issue's check: a VGG16 classifier exported with `--project-layers block5_conv3`
    answers `project_block5_conv3` over REST, as the deconvnet does in this process."""
    import httpx
    import numpy as np

    import zfnet_tf
    from support.servers import ServerProcess

    keras_path = tmp_path / "vgg16.keras"
    model = vgg16  # the session's (tests/conftest.py)
    model.save(keras_path)
    base = tmp_path / "saved_models" / "vgg16"
    assert main(["export", "--model", str(keras_path), "--base-path", str(base),
                 "--project-layers", "block5_conv3"]) == 0
    assert capsys.readouterr().out.strip() == os.path.join(str(base), "1")

    images = np.random.default_rng(3).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    expected = zfnet_tf.Deconvnet(model).project(images, "block5_conv3", feature=np.array([-1, 7]))
    with ServerProcess(["--model_name=vgg16", f"--model_base_path={base}"], ready_model="vgg16") as server:
        body = {"signature_name": "project_block5_conv3",
                "inputs": {"images": images.tolist(), "feature": [-1, 7]}}
        answer = httpx.post(f"http://{server.rest_address}/v1/models/vgg16:predict", json=body, timeout=120)
        assert answer.status_code == 200, answer.text
        outputs = {k: np.asarray(v) for k, v in answer.json()["outputs"].items()}
        metadata = httpx.get(f"http://{server.rest_address}/v1/models/vgg16/metadata", timeout=60).json()
    assert "project_block5_conv3" in metadata["metadata"]["signature_def"]["signature_def"]
    assert not any(name.startswith("project_block1") for name in metadata["metadata"]["signature_def"]["signature_def"])
    np.testing.assert_array_equal(outputs["feature"], expected.feature)
    np.testing.assert_array_equal(outputs["location"], expected.location)
    np.testing.assert_array_equal(outputs["box"], expected.box)
    np.testing.assert_allclose(outputs["activation"], expected.activation, rtol=1e-5)
    scale = np.abs(expected.reconstructions).max()
    assert scale > 0
    np.testing.assert_allclose(outputs["reconstructions"], expected.reconstructions, rtol=0, atol=1e-4 * scale)
