"""`zfnet-tf export`: the next version of a .keras model, printed; clear errors for bad input.

One export serves the tests below (an export, with its fresh-process check, is slow): the
session's VGG16 (a model zfnet-tf did not build), projected at `block5_conv3` alone, into a
base path that already holds a version 3.
"""

import contextlib
import io
import os

import pytest

from zfnet_tf.cli.main import main

pytestmark = pytest.mark.heavy(20)


@pytest.fixture(scope="module")
def vgg16_export(vgg16, tmp_path_factory):
    """`(base_path, printed)`: `zfnet-tf export --project-layers block5_conv3` of the session's
    VGG16 (tests/conftest.py) into a base path whose version 3 is an older file, and what it
    printed."""
    root = tmp_path_factory.mktemp("cli_export")
    keras_path = root / "vgg16.keras"
    vgg16.save(keras_path)
    base = root / "saved_models" / "vgg16"
    (base / "3" / "variables").mkdir(parents=True)
    (base / "3" / "saved_model.pb").write_bytes(b"an older version")
    out, err = io.StringIO(), io.StringIO()  # capsys is per test; this export is the module's
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["export", "--model", str(keras_path), "--base-path", str(base),
                       "--project-layers", "block5_conv3"])
    assert status == 0, err.getvalue()[-3000:]
    # The slow step announces itself and its duration (plain lines in a pipe, a real process:
    # tests/cli/test_quiet_and_flags.py).
    lines = err.getvalue().strip().splitlines()
    assert lines[0] == f"exporting a SavedModel version under {base} ..."
    assert lines[-1].startswith(f"exporting a SavedModel version under {base}: done in ")
    return base, out.getvalue().strip()


def test_export_prints_the_next_version_and_keeps_the_old(vgg16_export):
    base, printed = vgg16_export
    assert printed == os.path.join(str(base), "4")
    assert sorted(os.listdir(base)) == ["3", "4"]
    assert (base / "3" / "saved_model.pb").read_bytes() == b"an older version"
    assert {"saved_model.pb", "variables", "assets.extra"} <= set(os.listdir(printed))
    assert os.stat(printed).st_mode & 0o777 == 0o755
    names = (base / "4" / "assets.extra" / "class_names.txt").read_text().splitlines()
    assert names == [f"class_{i}" for i in range(3)]


def test_export_errors_name_the_problem(tiny_export, tmp_path, capsys):
    tiny_keras_file, _ = tiny_export  # the session's (read only)
    assert main(["export", "--model", str(tmp_path / "missing.keras"), "--base-path", str(tmp_path / "m")]) == 2
    assert "model file not found" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["export", "--model", str(tiny_keras_file), "--base-path", str(tmp_path / "file")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_keras_application_exported_by_layer_name_answers_over_rest(vgg16, vgg16_export, request):
    """The issue's check: a VGG16 classifier exported with `--project-layers block5_conv3`
    answers `project_block5_conv3` over REST, as the deconvnet does in this process. The
    version the command published is served by the run's shared server (a copy of it as
    "vgg16" version 4: `support.shared_server`)."""
    import numpy as np

    import zfnet_tf
    from support.shared_server import publish_to_shared_server

    base, _ = vgg16_export
    images = np.random.default_rng(3).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    expected = zfnet_tf.Deconvnet(vgg16).project(images, "block5_conv3", feature=np.array([-1, 7]))
    server = publish_to_shared_server(request, "vgg16", base / "4")
    with server.http_client() as http:
        status = http.get("/v1/models/vgg16").json()["model_version_status"]
        body = {"signature_name": "project_block5_conv3",
                "inputs": {"images": images.tolist(), "feature": [-1, 7]}}
        answer = http.post("/v1/models/vgg16:predict", json=body)
        assert answer.status_code == 200, answer.text
        outputs = {k: np.asarray(v) for k, v in answer.json()["outputs"].items()}
        metadata = http.get("/v1/models/vgg16/metadata").json()
    assert [(s["version"], s["state"]) for s in status] == [("4", "AVAILABLE")]
    assert "project_block5_conv3" in metadata["metadata"]["signature_def"]["signature_def"]
    assert not any(name.startswith("project_block1") for name in metadata["metadata"]["signature_def"]["signature_def"])
    np.testing.assert_array_equal(outputs["feature"], expected.feature)
    np.testing.assert_array_equal(outputs["location"], expected.location)
    np.testing.assert_array_equal(outputs["box"], expected.box)
    np.testing.assert_allclose(outputs["activation"], expected.activation, rtol=1e-5)
    scale = np.abs(expected.reconstructions).max()
    assert scale > 0
    np.testing.assert_allclose(outputs["reconstructions"], expected.reconstructions, rtol=0, atol=1e-4 * scale)
