import keras
import tensorflow as tf

from zfnet_tf.layers.feature_map_normalization import FeatureMapNormalization


@keras.saving.register_keras_serializable(package="zfnet_tf")
class LocalResponseNormalization(FeatureMapNormalization):
    """AlexNet's local response normalization across feature maps, for comparison with LCN.

    Krizhevsky et al., NIPS 2012, Sec. 3.3; Zeiler & Fergus (arXiv 1311.2901) compare their
    network against this AlexNet design (Sec. 4.1, Fig. 6). For map `c` at each position:

        y_c = x_c / (bias + alpha * sum_{|c' - c| <= depth_radius} x_{c'}**2) ** beta

    with AlexNet's constants by default (n = 5 maps, k = 2, alpha = 1e-4, beta = 0.75); `alpha`
    multiplies the plain sum, as in the AlexNet paper (Caffe divides it by n).

    Input shape: `(batch, height, width, channels)`. Output shape: the same.
    """

    hyperparameters = ("depth_radius", "bias", "alpha", "beta")

    def __init__(
        self,
        depth_radius: int = 2,
        bias: float = 2.0,
        alpha: float = 1e-4,
        beta: float = 0.75,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if depth_radius < 0:
            raise ValueError(f"depth_radius must be >= 0, got {depth_radius}")
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def normalize(self, x):
        return tf.nn.local_response_normalization(
            x, depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta
        )
