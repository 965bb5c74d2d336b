import numpy as np
import keras
import tensorflow as tf

from zfnet_tf.layers.feature_map_normalization import FeatureMapNormalization


def gaussian_window(kernel_size: int, sigma: float) -> np.ndarray:
    """A [kernel_size, kernel_size] Gaussian that sums to 1."""
    offsets = np.arange(kernel_size, dtype=np.float64) - (kernel_size - 1) / 2.0
    profile = np.exp(-(offsets**2) / (2.0 * sigma**2))
    window = np.outer(profile, profile)
    return window / window.sum()


@keras.saving.register_keras_serializable(package="zfnet_tf")
class LocalContrastNormalization(FeatureMapNormalization):
    """Local contrast normalization (Jarrett et al., ICCV 2009), as ZFNet uses after layers 1-2.

    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (arXiv 1311.2901),
    Sec. 2 and Fig. 3: "local contrast normalization" across feature maps after the first two
    pooling layers.

    With `w` a Gaussian window of side `kernel_size` and deviation `sigma`, spread evenly over
    all `C` feature maps so that it sums to 1, and `*` the windowed sum over space and maps:

        v     = x - w * x                      (subtractive step)
        sigma = sqrt(max(w * v**2, epsilon**2))
        y     = v / max(c, sigma)              (divisive step)

    where `c` is the mean of `sigma` over the map of each example. At the borders the window is
    cut to the image and renormalized to sum 1 (Jarrett et al.'s border handling), so border
    pixels are compared with their real neighbours rather than with zeros. `epsilon` keeps the
    division and the gradient finite on flat inputs; it is far below the activations' scale.

    Args:
        kernel_size: odd side of the Gaussian window (default 9, as Jarrett et al.).
        sigma: standard deviation of the Gaussian, in pixels.
        epsilon: floor of `sigma`.

    Input shape: `(batch, height, width, channels)`. Output shape: the same.
    """

    hyperparameters = ("kernel_size", "sigma", "epsilon")

    def __init__(self, kernel_size: int = 9, sigma: float = 2.0, epsilon: float = 1e-4, **kwargs):
        super().__init__(**kwargs)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd integer >= 1, got {kernel_size}")
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        if epsilon <= 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon}")
        self.kernel_size = int(kernel_size)
        self.sigma = float(sigma)
        self.epsilon = float(epsilon)
        self._window = tf.constant(
            gaussian_window(self.kernel_size, self.sigma)[:, :, None, None], tf.float32
        )

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"{self.name}: expected inputs of rank 4 (batch, height, width, channels), "
                f"got shape {input_shape}"
            )

    def _window_mean(self, x_mean_over_maps, window, window_mass):
        """`w * x` for a map already averaged over channels ([B, H, W, 1])."""
        return tf.nn.conv2d(x_mean_over_maps, window, 1, "SAME") / window_mass

    def normalize(self, x):
        window = self._window
        ones = tf.ones_like(x[:1, :, :, :1])
        window_mass = tf.nn.conv2d(ones, window, 1, "SAME")
        mean = self._window_mean(tf.reduce_mean(x, axis=-1, keepdims=True), window, window_mass)
        centered = x - mean
        variance = self._window_mean(
            tf.reduce_mean(tf.square(centered), axis=-1, keepdims=True), window, window_mass
        )
        local_std = tf.sqrt(tf.maximum(variance, self.epsilon**2))
        mean_std = tf.reduce_mean(local_std, axis=[1, 2, 3], keepdims=True)
        return centered / tf.maximum(mean_std, local_std)
