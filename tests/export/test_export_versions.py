"""Versions: the next free number, never an overwrite, and nothing published unless the
reloaded SavedModel reproduces the model."""

import os
import shutil

import numpy as np
import pytest

from zfnet_tf.export import ExportVerificationError, export_model, list_versions, next_version
from zfnet_tf.export import exporter
from zfnet_tf.export.check import compare
from support.exports import small_convnet


def test_versions_are_positive_integer_folders(tmp_path):
    for name in ("1", "3", "10", "0", "x", ".export-abc"):
        (tmp_path / name).mkdir()
    (tmp_path / "7").write_text("a file, not a version")
    assert list_versions(tmp_path) == [1, 3, 10]
    assert next_version(tmp_path) == 11
    assert list_versions(tmp_path / "missing") == []
    assert next_version(tmp_path / "missing") == 1


def test_compare_names_the_output_and_the_difference():
    expected = np.array([[1.0, -2.0], [3.0, 4.0]], np.float32)
    assert compare("logits", expected + 1e-7, expected) is None
    message = compare("logits", expected + np.float32(0.01), expected)
    assert "'logits'" in message and "0.01" in message
    assert "dtype" in compare("feature", np.array([1], np.int64), np.array([1], np.int32))
    assert "shape" in compare("location", np.zeros((2, 2), np.int32), np.zeros((1, 2), np.int32))
    assert "1 of 2" in compare("feature", np.array([1, 2], np.int32), np.array([1, 3], np.int32))


def _snapshot(folder):
    return {
        os.path.relpath(os.path.join(root, f), folder): open(os.path.join(root, f), "rb").read()
        for root, _, files in os.walk(folder)
        for f in files
    }


def test_failed_verification_publishes_nothing(tiny_export, tmp_path, monkeypatch):
    """The fresh-process check compares against reference answers; a reference that the
    SavedModel cannot reproduce (here: one projection shifted) must stop the export. The
    model is a small convnet (a cheaper export), its base path holds the tiny export as
    version 1."""
    _, base_path = tiny_export
    target = tmp_path / "convnet"
    shutil.copytree(base_path / "1", target / "1")
    before = _snapshot(target)
    reference_cases = exporter.reference_cases

    def shifted_projection(model, layers=None):
        cases = reference_cases(model, layers)
        for signature, _, outputs in cases:
            if signature == "project_parts":
                outputs["reconstructions"] = outputs["reconstructions"] + 1.0
        return cases

    monkeypatch.setattr(exporter, "reference_cases", shifted_projection)
    with pytest.raises(ExportVerificationError, match=r"project_parts: output 'reconstructions' differs"):
        export_model(small_convnet(), target, layers=["parts"])  # the layer it shifts: a smaller export
    assert sorted(os.listdir(target)) == ["1"]  # no version 2, no temporary folder
    assert _snapshot(target) == before


def test_export_refuses_a_file_as_base_path(tiny_keras_model, tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(ValueError, match="not a folder"):
        export_model(tiny_keras_model, tmp_path / "taken")
