import pytest


@pytest.fixture(scope="module")
def tiny_backbone_model():
    """The `tiny` preset with seeded random weights, shared by a module's tests (read only)."""
    import keras

    import zfnet_tf

    keras.utils.set_random_seed(0)
    return zfnet_tf.build_model("tiny")
