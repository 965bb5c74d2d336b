import os
import shutil

# Before TensorFlow loads in the test process (subprocesses inherit it).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One TensorFlow thread per pool in each process: pytest-xdist already runs a worker per core,
# and pools sized to every core in each worker (and in the servers and training runs they
# start) left the cores oversubscribed; a test of many small ops then waited on the scheduler
# for tens of seconds at a time (a whole run: 479 s with the default pools, 410 s with these).
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import pytest  # noqa: E402


def pytest_collection_modifyitems(session, config, items):
    """Files marked `pytest.mark.heavy(seconds)` first, the longest first, then the rest by
    their number of tests (pytest-xdist's own order): with whole files per worker (`--dist
    loadfile --no-loadscope-reorder`), a long file taken last would leave the other workers idle
    at the end of the run. The seconds are rough costs on a 2-core machine, for ordering only."""
    files = {}
    for index, item in enumerate(items):
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(index)

    def cost(name):
        marker = items[files[name][0]].get_closest_marker("heavy")
        return (-(marker.args[0] if marker else 0), -len(files[name]))

    items[:] = [items[i] for name in sorted(files, key=cost) for i in files[name]]


@pytest.fixture(scope="session", autouse=True)
def no_graph_rewrites():
    """Grappler's graph rewrites off in the test processes: they only make a graph faster to
    run, and on the suite's small inputs each `tf.function`'s first call spent more time being
    rewritten than running (the oracle's keras.applications graphs most: about a fifth of their
    time). The real processes the tests start (servers, training runs, the fresh-process load
    check) keep TensorFlow's defaults."""
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


# -- artifacts built once per run, shared by the xdist workers ----------------------------------


@pytest.fixture(scope="session")
def built_once(tmp_path_factory):
    """`built_once(name, build)` -> the folder `build(folder)` filled, once per run: the first
    worker to ask builds it under a file lock while the others wait, and every worker then reads
    it (pytest-xdist's documented pattern for session fixtures). Only for artifacts the tests
    read and never change."""
    from filelock import FileLock

    # All workers of a run share the parent of their base temporary folders; a run without
    # workers has its own base folder.
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    root = root / "built_once"

    root.mkdir(parents=True, exist_ok=True)

    def once(name, build):
        folder = root / name
        with FileLock(str(folder) + ".lock"):
            if not (folder / ".complete").exists():
                shutil.rmtree(folder, ignore_errors=True)  # a build that failed half-way
                folder.mkdir(parents=True)
                build(folder)
                (folder / ".complete").touch()
        return folder

    return once


@pytest.fixture
def tiny_model():
    """The `tiny` preset with seeded random weights."""
    import keras

    import zfnet_tf

    keras.utils.set_random_seed(0)
    return zfnet_tf.build_model("tiny")


TINY_CLASS_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@pytest.fixture(scope="session")
def tiny_export(built_once):
    """`(keras_path, base_path)`: a seeded tiny model with class names and its SavedModel
    version 1, made once per run (the export, with its fresh-process check, is slow)."""

    def build(root):
        import keras

        import zfnet_tf
        from zfnet_tf.export import export_model

        keras.utils.set_random_seed(0)
        model = zfnet_tf.build_model("tiny", class_names=TINY_CLASS_NAMES)
        model.save(root / "tiny.keras")
        base_path = root / "saved_models" / "tiny"
        assert export_model(model, base_path) == os.path.join(str(base_path), "1")

    root = built_once("tiny_export", build)
    return root / "tiny.keras", root / "saved_models" / "tiny"


@pytest.fixture(scope="session")
def tiny_keras_model(tiny_export):
    from zfnet_tf.models import load_model

    return load_model(str(tiny_export[0]))


@pytest.fixture(scope="session")
def linear_twin():
    """A builder: `linear_twin(config, layer)`, the network's geometry up to paper layer `layer`
    with all-ones kernels, no ReLU and average pooling, one channel. Every input pixel of a
    unit's receptive field then has a non-zero gradient, and no other pixel does: an
    independent reference for receptive fields and for what each layer can see."""
    import keras

    def build(config, layer):
        inputs = keras.Input((config.input_size, config.input_size, 1))
        x = inputs
        for block in config.conv_blocks:
            if block.padding:
                x = keras.layers.ZeroPadding2D(block.padding)(x)
            x = keras.layers.Conv2D(1, block.kernel_size, block.strides, kernel_initializer="ones", use_bias=False)(x)
            if block.pool:
                x = keras.layers.AveragePooling2D(3, 2, block.pool_padding)(x)
            if block.layer == layer:
                return keras.Model(inputs, x)
        raise ValueError(f"layer {layer} is not in this network")

    return build


# -- keras.applications VGG16: one for the session ---------------------------------------------

@pytest.fixture(scope="session")
def vgg16():
    """keras.applications VGG16 at 32x32 with 3 classes and seeded random weights (a model
    zfnet-tf did not build: a nested base behind a fixed preprocessing convolution)."""
    import keras

    import zfnet_tf

    keras.utils.set_random_seed(11)
    return zfnet_tf.keras_application("VGG16", input_size=32, num_classes=3)


@pytest.fixture(scope="session")
def vgg16_layer(vgg16):
    """`outputs(images, *names)`: VGG16's named layers by an independent Keras model (the
    application's own graph, after its preprocessing layer), not through the deconvnet."""
    import keras
    import numpy as np

    base = vgg16.get_layer("vgg16")
    preprocess = vgg16.get_layer("preprocess")

    def outputs(images, *names):
        model = keras.Model(base.input, [base.get_layer(name).output for name in names])
        values = model(preprocess(np.asarray(images, np.float32)))
        values = values if isinstance(values, (list, tuple)) else [values]
        return [keras.ops.convert_to_numpy(v) for v in values]

    return outputs


@pytest.fixture
def unreadable_class_folder(tmp_path):
    """`class_images.write_unreadable_class_folder` in a fresh temporary folder."""
    from support.class_images import write_unreadable_class_folder

    return write_unreadable_class_folder(tmp_path / "images")


@pytest.fixture
def class_folders():
    """`class_images.write_class_folders`: class folders a random backbone can tell apart."""
    from support.class_images import write_class_folders

    return write_class_folders
