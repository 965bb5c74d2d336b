import numpy as np
import pytest


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

    base = vgg16.get_layer("vgg16")
    preprocess = vgg16.get_layer("preprocess")

    def outputs(images, *names):
        model = keras.Model(base.input, [base.get_layer(name).output for name in names])
        values = model(preprocess(np.asarray(images, np.float32)))
        values = values if isinstance(values, (list, tuple)) else [values]
        return [keras.ops.convert_to_numpy(v) for v in values]

    return outputs
