"""imgclsmob's ZFNets and EfficientNet-Lite0 for the pretrained-model tests, each made once.

tests/models/test_pretrained.py and tests/cli/test_pretrained_command.py import these
fixtures. What is on disk (pytorchcv's state dicts and outputs, the imported ZFNet's export) is
made once per run for every xdist worker (`built_once`); what is in memory (the imported
networks) once per process, however many modules ask for it.
"""

import functools
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

PYTORCHCV_PHOTOS = ("astronaut", "chelsea", "coffee")
ZFNETS = ("zfnet", "zfnetb")
REFERENCE_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models", "pytorchcv_reference.py")


@pytest.fixture(scope="session")
def pytorchcv_reference(built_once):
    """`get(name)` -> `(state_dict_path, outputs, images)` for pytorchcv's "zfnet" / "zfnetb".

    pytorchcv builds both networks offline with seeded random weights in one subprocess (torch
    never enters this process, which runs TensorFlow: docs/design.md, traps); it saves their
    state dicts and their logits and layer outputs (NHWC) on scikit-image's photos, prepared by
    the models' evaluation transform (shorter side 256, centre 224).
    """
    missing = [m for m in ("torch", "pytorchcv") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"needs the pretrained extra ({', '.join(missing)} missing)")
    root = built_once("pytorchcv_zfnets", _write_references)
    return functools.partial(_reference, str(root))


def _photos() -> np.ndarray:
    from zfnet_tf.data import sample_images

    return sample_images(224, PYTORCHCV_PHOTOS, resize_size=256)[0]


def _write_references(root) -> None:
    images_path = root / "images.npz"
    np.savez(images_path, images=_photos())
    # One PyTorch thread: on the suite's shared cores, more mostly wait for each other.
    result = subprocess.run([sys.executable, REFERENCE_SCRIPT, str(images_path), str(root), *ZFNETS],
                            capture_output=True, text=True, timeout=900, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-3000:]


@functools.cache
def _reference(root: str, name: str):
    with np.load(os.path.join(root, f"{name}.npz")) as stored:
        outputs = {key: stored[key] for key in stored.files}
    with np.load(os.path.join(root, "images.npz")) as stored:
        images = stored["images"]
    return os.path.join(root, f"{name}.pth"), outputs, images


@functools.cache
def _imported(name: str, state_path: str):
    import zfnet_tf

    return zfnet_tf.pretrained(name, state_path)


@pytest.fixture(scope="session")
def imported_zfnet(pytorchcv_reference):
    """`zfnet_tf.pretrained("zfnet", <pytorchcv's random-weight state dict>)`, built once."""
    return _imported("zfnet", pytorchcv_reference("zfnet")[0])


@pytest.fixture(scope="session")
def imported_zfnet_export(imported_zfnet, built_once):
    """`(base_path, version_path)`: `imported_zfnet` exported once per run (version 1), with
    the one projection signature the tests serve (layer 1's; every signature is still checked
    in a fresh process by `export_model`)."""
    from zfnet_tf.export import export_model

    root = built_once("imported_zfnet_export_layer1", lambda root: export_model(imported_zfnet, root / "zfnet", layers=[1]))
    return str(root / "zfnet"), os.path.join(str(root / "zfnet"), "1")


@functools.cache
def published_lite0():
    """`zfnet_tf.pretrained("efficientnet_lite0")` from the packaged weights, once per process
    (read only)."""
    import zfnet_tf

    return zfnet_tf.pretrained("efficientnet_lite0")
