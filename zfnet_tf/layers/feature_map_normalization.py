"""What ZFNet's two normalizations of feature maps (LCN, LRN) share."""

import keras
import tensorflow as tf


class FeatureMapNormalization(keras.layers.Layer):
    """A normalization of feature maps that keeps their shape and dtype.

    `normalize(x)` computes it in float32, also under mixed precision (the sums of squares of
    float16 activations overflow), and `call` casts the result back to the input's dtype. The
    layer's config is its hyperparameters: the attributes named in `hyperparameters`.
    """

    hyperparameters: tuple[str, ...] = ()

    def normalize(self, x: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define normalize(x)")

    def call(self, inputs):
        return tf.cast(self.normalize(tf.cast(inputs, tf.float32)), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), **{name: getattr(self, name) for name in self.hyperparameters}}
