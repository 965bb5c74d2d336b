import pytest


@pytest.fixture(scope="module")
def tiny_backbone_model():
    """The `tiny` preset with seeded random weights, shared by a module's tests (read only)."""
    import keras

    import zfnet_tf

    keras.utils.set_random_seed(0)
    return zfnet_tf.build_model("tiny")


@pytest.fixture(scope="module")
def functional_cnn():
    """A user's own small functional CNN (not a ZFNet): 32x32 RGB 0-255 in, 4 logits out."""
    import keras

    from zfnet_tf.models import ImageClassifier

    keras.utils.set_random_seed(0)
    images = keras.Input((32, 32, 3), name="images")
    x = keras.layers.Rescaling(1 / 255.0, name="scale")(images)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(16, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(24, activation="relu", name="fc")(x)
    x = keras.layers.Dropout(0.5, name="fc_dropout")(x)
    logits = keras.layers.Dense(4, name="logits")(x)
    return ImageClassifier(images, logits, name="small_cnn", class_names=["w", "x", "y", "z"])
