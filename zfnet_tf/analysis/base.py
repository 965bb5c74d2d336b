"""The one shape of every analysis: `Analysis(model, params).run(data) -> Result`.

- `Params`: a frozen dataclass, checked when made; a bad value raises `ValueError` naming the
  argument (`k must be an int >= 1, got 0`).
- `Analysis(model, params)`: `params` is the analysis' `Params` class, or its fields given as
  keywords (`Top9(model, layer="block3_conv3")` is `Top9(model, Top9Params(layer=...))`).
  `.run(data)` takes images `[N, S, S, 3]`, `(images, labels)`, a `tf.data.Dataset`, a dataset
  name or a `zfnet_tf.data.DataSource` (`zfnet_tf.analysis.data.analysis_data` reads them all).
- `Result`: the numbers. `to_json()` is plain JSON (lists, numbers, strings: it survives
  `json.loads(json.dumps(...))` unchanged), `figures()` draws them (the functions of
  `zfnet_tf.analysis.plots`; nothing is computed there) and `save(out_dir)` writes the figures
  and `<stem>.json`, each atomically, and returns the JSON with the written files under "files".

Long runs show a Keras `Progbar` (the feature passes run through `Model.predict`, whose bar is
one).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import keras
import numpy as np
import tensorflow as tf

from zfnet_tf.analysis.data import AnalysisData, Data, analysis_data
from zfnet_tf.data.pipelines import read_to_the_end
from zfnet_tf.files import write_json
from zfnet_tf.progress import keras_verbose, step

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from zfnet_tf.deconv import Deconvnet


# -- parameters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    """Base of every analysis' parameters: frozen, and checked on construction by `check`."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raises ValueError naming the first bad field (subclasses add their checks)."""

    def replace(self, **changes: Any) -> "Params":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        """The fields that shape the numbers (not `progress`, which only shows them coming)."""
        return jsonable({f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "progress"})

    def _set(self, name: str, value: Any) -> None:
        """Normalizes a field while checking it (a list becomes a tuple, ...)."""
        object.__setattr__(self, name, value)


def check_int(name: str, value: Any, minimum: int | None = None, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"{name} must be an int{bound}{' or None' if optional else ''}, got {value!r}")


def check_number(name: str, value: Any, low: float | None = None, high: float | None = None, what: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number{what}, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be{what or f' in [{low}, {high}]'}, got {value!r}")


def check_layer(name: str, value: Any, optional: bool = False) -> None:
    """A layer: a layer name, or a ZFNet layer number."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not (isinstance(value, (int, np.integer)) or (isinstance(value, str) and value)):
        raise ValueError(f"{name} must be a layer name or a ZFNet layer number, got {value!r}")


def layer_tuple(params: Params, name: str) -> None:
    """Checks an optional, non-empty sequence of layers and stores it as a tuple."""
    value = getattr(params, name)
    if value is None:
        return
    if isinstance(value, (str, int, np.integer)):
        value = (value,)
    value = tuple(value)
    if not value:
        raise ValueError(f"{name} must name at least one layer (or be None for the default)")
    for layer in value:
        check_layer(name, layer)
    params._set(name, tuple(int(v) if isinstance(v, np.integer) else v for v in value))


def check_fill(value: Any) -> str | tuple[float, float, float]:
    """`fill`: "mean" (the model's neutral colour), a number or an RGB triple (0-255), also
    written as text ("128", "255,0,0", as the command line gives it)."""
    problem = f"fill must be 'mean', a number or 3 numbers (RGB 0-255), got {value!r}"
    if isinstance(value, str):
        if value == "mean":
            return value
        try:
            value = [float(part) for part in value.split(",")]
        except ValueError:
            raise ValueError(problem) from None
    try:
        values = np.asarray(value, np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(problem) from None
    if values.size == 1:
        values = np.repeat(values, 3)
    if values.size != 3 or not np.all(np.isfinite(values)):
        raise ValueError(problem)
    return tuple(float(v) for v in values)


def fill_color(model: keras.Model, fill: str | Sequence[float]) -> np.ndarray:
    """The RGB of occluders and uncovered pixels: "mean" is `zfnet_tf.deconv.neutral_color`,
    the colour the model's preprocessing turns into zero (ZFNet's mean RGB)."""
    from zfnet_tf.deconv import neutral_color

    if isinstance(fill, str):
        return np.asarray(neutral_color(model), np.float32)
    return np.asarray(fill, np.float32)


# -- results ------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """`value` as plain JSON: arrays and tuples to lists, NumPy scalars to Python numbers,
    keys to strings, NaN and infinities to None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


@dataclass
class Result:
    """Base of every analysis' result (see the module's doc).

    Attributes:
        params: the parameters of the run.
        data: what was read (`AnalysisData.summary`: source, count, skipped files).
    """

    kind: ClassVar[str] = ""

    params: Params = field(kw_only=True)
    data: dict | None = field(default=None, kw_only=True)

    @property
    def stem(self) -> str:
        """The file name (without extension) of the JSON; figures start with it too."""
        return self.kind

    def numbers(self) -> dict:
        """The analysis' own numbers (subclasses)."""
        raise NotImplementedError

    def to_json(self) -> dict:
        record = {"analysis": self.kind, "params": self.params.to_json()}
        if self.data is not None:
            record["data"] = self.data
        record.update(self.numbers())
        return jsonable(record)

    def figures(self) -> "dict[str, Figure]":
        """`{file name: matplotlib Figure}` (subclasses: each draws its figures with the
        functions of `zfnet_tf.analysis.plots`, from the result alone)."""
        return {}

    def write_files(self, out_dir: str) -> list[str]:
        """Files besides the figures and the JSON (subclasses), written atomically."""
        return []

    def save(self, out_dir: str | os.PathLike) -> dict:
        """Writes the figures, any other files, then `<stem>.json`; returns the JSON written,
        with every path under "files"."""
        from zfnet_tf.visualization import save_figure

        out_dir = os.fspath(out_dir)
        with step(f"drawing the {self.stem} figures") if getattr(self.params, "progress", False) else contextlib.nullcontext():
            files = [save_figure(figure, os.path.join(out_dir, name)) for name, figure in self.figures().items()]
        files += self.write_files(out_dir)
        path = os.path.join(out_dir, f"{self.stem}.json")
        record = self.to_json()
        record["files"] = files + [path]
        write_json(path, record, indent=1)
        return record


# -- analyses -----------------------------------------------------------------------------------


class Analysis:
    """Base of every analysis: `Analysis(model, params)` and one entry point, `run`.

    Args:
        model: a ZFNet, or any Keras model the deconvnet supports.
        params: the analysis' `params_class` instance (default: its defaults).
        deconvnet: a `Deconvnet` of `model` to use (and share its traced projections with
            whoever else uses it); default: `shared_deconvnet(model)`.
        **overrides: fields of `params` to change (or to set, without `params`).
    """

    params_class: ClassVar[type[Params]] = Params

    def __init__(
        self, model: keras.Model, params: Params | None = None, deconvnet: Deconvnet | None = None, **overrides: Any
    ):
        if params is None:
            params = self.params_class(**overrides)
        elif not isinstance(params, self.params_class):
            raise TypeError(f"params must be a {self.params_class.__name__}, got {type(params).__name__}")
        elif overrides:
            params = params.replace(**overrides)
        self.model = model
        self.params = params
        if deconvnet is not None:
            if deconvnet.model is not model:
                raise ValueError("deconvnet must be a Deconvnet of the analysed model")
            self.deconvnet = deconvnet

    @functools.cached_property
    def deconvnet(self) -> "Deconvnet":
        from zfnet_tf.deconv import shared_deconvnet

        return shared_deconvnet(self.model)

    def data(self, data: Data, split: str = "test") -> AnalysisData:
        """`data` as images at the model's input size (`analysis_data`)."""
        return analysis_data(data, self.model, split)

    def run(self, data: Data, *args: Any, **kwargs: Any) -> Result:
        raise NotImplementedError

    def project_strongest(self, layer: int | str, images: np.ndarray, features: np.ndarray) -> np.ndarray:
        """The deconvnet's "max" projections of maps `features` (int `[B, K]`) of `layer` in
        `images` `[B, H, W, C]`: float32 `[B, K, H, W, C]`, each of its map's strongest
        activation in its image. Through one graph per layer for any B and K, which every
        analysis of the shared deconvnet reuses (occlusion's projection is then top-9's); K
        maps of one image share its forward pass, so group an image's maps in one row."""
        function = self.deconvnet.projection_function(layer, "max")
        output = function(tf.constant(images, tf.float32), tf.constant(features, tf.int32))
        return output["reconstructions"].numpy()


# -- reading layers with Model.predict --------------------------------------------------------------


class Readout(keras.Model):
    """Images to `{name: float32 feature vector}` of some layers (`feature_reader`), for
    `Model.predict`'s batching, `tf.data` input and progress bar.

    An input `{"images": ..., "labels": ...}` passes its labels through as `"labels"`, so one
    pass over a labelled dataset yields features and labels together.
    """

    def __init__(self, features: keras.Model, **kwargs):
        super().__init__(**{"name": "readout", **kwargs})
        self.features = features

    @classmethod
    def of(cls, model: "keras.Model | Deconvnet", layers: Sequence[int | str], max_dimensions: int | None = None) -> "Readout":
        """The readout of `layers`' feature vectors (each read once; maps pooled within
        `max_dimensions`: `zfnet_tf.analysis.feature_layers.feature_reader`)."""
        from zfnet_tf.analysis.feature_layers import feature_reader

        return cls(feature_reader(model, layers, max_dimensions))

    def call(self, inputs):
        labels = None
        if isinstance(inputs, dict):
            inputs, labels = inputs["images"], inputs.get("labels")
        outputs = dict(self.features(inputs))
        if labels is not None:
            outputs["labels"] = labels
        return outputs


def predict(readout: keras.Model, data: AnalysisData | np.ndarray, batch_size: int, progress: bool) -> dict[str, np.ndarray]:
    """`readout.predict` over images `[N, S, S, 3]` or `AnalysisData` (its labels come back as
    "labels")."""
    verbose = keras_verbose() if progress else 0
    if isinstance(data, np.ndarray):
        return readout.predict(data, batch_size=batch_size, verbose=verbose)
    if data.labelled:
        inputs = data.dataset.map(lambda image, label: ({"images": image, "labels": label},))
    else:
        inputs = data.dataset.map(lambda image: (image,))
    with read_to_the_end():
        outputs = readout.predict(inputs.batch(batch_size).prefetch(tf.data.AUTOTUNE), verbose=verbose)
    if not len(next(iter(outputs.values()))):
        raise ValueError(f"the data ({data.source}) has no images")
    return outputs


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.asarray(logits, np.float64) - np.max(logits, axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def check_labels(labels, count: int, num_classes: int) -> np.ndarray:
    """int32 `[count]` class indices, or a ValueError naming `labels`."""
    values = np.asarray(labels)
    if (
        values.shape != (count,)
        or (values.size and not np.issubdtype(values.dtype, np.integer))
        or np.any(values < 0)
        or np.any(values >= num_classes)
    ):
        raise ValueError(
            f"labels must be {count} class indices in 0..{num_classes - 1}, got {np.asarray(labels).tolist()}"
        )
    return values.astype(np.int32)


def true_or_predicted(labels: np.ndarray | None, probabilities: np.ndarray, num_classes: int) -> tuple[np.ndarray, str]:
    """`(labels, "given")` checked (`check_labels`) when the data has labels, else each
    image's most probable class, `(argmax, "predicted")`."""
    if labels is None:
        return probabilities.argmax(axis=-1).astype(np.int32), "predicted"
    return check_labels(labels, len(probabilities), num_classes), "given"
