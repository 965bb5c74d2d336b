"""Layer-1 filters, their spectra and dead filters, layer-2 projections (paper Fig. 6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import keras
import numpy as np

from zfnet_tf.analysis.base import Analysis, Params, Result, check_int, check_layer, check_number
from zfnet_tf.analysis.data import Data
from zfnet_tf.analysis.feature_layers import zfnet_config
from zfnet_tf.analysis.top9 import Top9, Top9Result
from zfnet_tf.deconv import layer_key

BANDS = ("low", "mid", "high")
# Radial frequency edges in cycles per pixel (Nyquist is 0.5): thirds of the Nyquist band.
DEFAULT_BAND_EDGES = (1 / 6, 1 / 3)


def filter_power_spectra(kernels: np.ndarray, fft_size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power spectrum of each filter, summed over its input channels.

    Args:
        kernels: `[k, k, in, out]` (a Keras Conv2D kernel).
        fft_size: the FFT grid; kernels are zero-padded to it so the spectrum is finely sampled.

    Returns:
        `(power [out, n, n], fy [n, 1], fx [1, n])`, frequencies in cycles per pixel.
    """
    kernels = np.asarray(kernels, np.float64)
    if kernels.ndim != 4:
        raise ValueError(f"kernels must be [k, k, in, out], got shape {kernels.shape}")
    if fft_size < max(kernels.shape[:2]):
        raise ValueError(f"fft_size {fft_size} is smaller than the kernel {kernels.shape[:2]}")
    # A few filters at a time: a deep layer's [n, n, in, out] spectrum would not fit in memory.
    step = max(1, 2**22 // (fft_size * fft_size * kernels.shape[2]))
    power = np.concatenate([
        (np.abs(np.fft.fft2(kernels[..., start : start + step], s=(fft_size, fft_size), axes=(0, 1))) ** 2).sum(axis=2)
        for start in range(0, kernels.shape[3], step)
    ], axis=-1)  # [n, n, out]
    freq = np.fft.fftfreq(fft_size)
    return np.moveaxis(power, -1, 0), freq[:, None], freq[None, :]


def band_energies(
    kernels: np.ndarray, fft_size: int = 64, edges: tuple[float, float] = DEFAULT_BAND_EDGES,
    spectra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Fraction of each filter's spectral energy in the low / mid / high band: `[out, 3]`.

    Bands split the radial frequency `sqrt(fx^2 + fy^2)` (cycles/pixel) at `edges`; rows sum
    to 1 (a filter of zero energy gets zeros). `spectra`: `filter_power_spectra(kernels,
    fft_size)` when the caller has it already.
    """
    low, high = edges
    if not 0 < low < high:
        raise ValueError(f"band edges must be 0 < low < high, got {edges}")
    power, fy, fx = spectra if spectra is not None else filter_power_spectra(kernels, fft_size)
    radius = np.hypot(fy, fx)
    masks = np.stack([radius < low, (radius >= low) & (radius < high), radius >= high])  # [3, n, n]
    energy = np.einsum("onm,bnm->ob", power, masks.astype(np.float64))
    total = energy.sum(axis=1, keepdims=True)
    return np.divide(energy, total, out=np.zeros_like(energy), where=total > 0)


def aliased_energy(kernels: np.ndarray, strides: int | tuple[int, int], fft_size: int = 64,
                   spectra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Fraction of each filter's energy above the Nyquist frequency of its output grid: `[out]`.

    A conv with stride s samples its output every s pixels, so input frequencies above
    `0.5 / s` cycles/pixel on that axis fold back (alias) into lower ones; this is the
    "aliasing artifacts" the paper sees in AlexNet's stride-4 layer 2 (Fig. 6 c). `strides`
    is one stride or a (rows, columns) pair; `spectra` as for `band_energies`.
    """
    power, fy, fx = spectra if spectra is not None else filter_power_spectra(kernels, fft_size)
    stride_y, stride_x = (strides, strides) if np.ndim(strides) == 0 else strides
    above = (np.abs(fy) > 0.5 / stride_y) | (np.abs(fx) > 0.5 / stride_x)
    total = power.sum(axis=(1, 2))
    aliased = (power * above).sum(axis=(1, 2))
    return np.divide(aliased, total, out=np.zeros_like(aliased), where=total > 0)


@dataclass(frozen=True)
class FilterParams(Params):
    """What `FilterAnalysis` does.

    Attributes:
        layer: the first layer, whose filters are shown and measured: a `Conv2D`'s name or
            ZFNet's number (default: ZFNet's first conv layer; else the model's first trainable
            `Conv2D`, past a fixed preprocessing convolution).
        projection_layer: the layer whose maps are projected over data (Fig. 6 c, d): a layer
            name or ZFNet's number (default: ZFNet's 2, else the second of
            `Deconvnet.default_layers`).
        dead_fraction: a filter is dead when its norm is at most this fraction of the largest
            norm in its layer.
        fft_size: FFT grid side (kernels are zero-padded to it).
        band_edges: radial frequencies (cycles/pixel) splitting low / mid / high.
        batch_size: images per forward batch of the projections' pass.
        progress: show a progress bar during that pass.
    """

    layer: int | str | None = None
    projection_layer: int | str | None = None
    dead_fraction: float = 0.05
    fft_size: int = 64
    band_edges: tuple[float, float] = DEFAULT_BAND_EDGES
    batch_size: int = 64
    progress: bool = True

    def check(self) -> None:
        check_layer("layer", self.layer, optional=True)
        check_layer("projection_layer", self.projection_layer, optional=True)
        check_number("dead_fraction", self.dead_fraction, what=" in [0, 1)")
        if not 0 <= self.dead_fraction < 1:
            raise ValueError(f"dead_fraction must be in [0, 1), got {self.dead_fraction!r}")
        check_int("fft_size", self.fft_size, 1)
        edges = tuple(self.band_edges)
        if len(edges) != 2 or not all(isinstance(e, (int, float)) for e in edges) or not 0 < edges[0] < edges[1]:
            raise ValueError(f"band_edges must be two frequencies 0 < low < high, got {self.band_edges!r}")
        self._set("band_edges", tuple(float(e) for e in edges))
        check_int("batch_size", self.batch_size, 1)


@dataclass
class FilterResult(Result):
    """What `FilterAnalysis.run` measured for one model.

    Attributes:
        model_name: how figures and comparisons name the model.
        layer1: the first layer's name; `layer1_filters` float32 `[C, kh, kw, 3]` its kernels
            (input channels other than 3 shown as their mean, grey), `layer1_strides` its
            (rows, columns) strides.
        norms: per conv layer (by name), each filter's L2 norm `[C]`.
        dead: per conv layer, whether each filter's norm is at most `dead_fraction` of the
            layer's largest.
        band_energy: `[C, 3]` fraction of each first-layer filter's spectral energy in the
            low / mid / high band; `band_edges` in cycles/pixel.
        aliased_energy: `[C]` fraction of each first-layer filter's energy above the Nyquist
            frequency of its stride.
        projections: a `Top9Result` (k=1) of `projection_layer` over the data: each map's
            strongest projection (Fig. 6 c, d), or None without data.
    """

    kind = "filters"

    model_name: str
    layer1: str
    layer1_filters: np.ndarray
    layer1_strides: tuple[int, int]
    norms: dict[str, np.ndarray]
    dead: dict[str, np.ndarray]
    dead_fraction: float
    band_energy: np.ndarray
    band_edges: tuple[float, float]
    aliased_energy: np.ndarray
    projections: Top9Result | None = None

    def summary(self) -> dict:
        """The numbers that compare architectures: dead filters, band shares, aliasing."""
        mean_bands = self.band_energy.mean(axis=0)
        return {
            "layer1": self.layer1,
            "layer1_kernel_size": list(self.layer1_filters.shape[1:3]),
            "layer1_strides": list(self.layer1_strides),
            "dead_filters": {l: int(d.sum()) for l, d in self.dead.items()},
            "filters": {l: int(d.size) for l, d in self.dead.items()},
            "layer1_mean_band_energy": {b: float(v) for b, v in zip(BANDS, mean_bands)},
            "layer1_dominant_band_counts": {
                b: int(n) for b, n in zip(BANDS, np.bincount(self.band_energy.argmax(axis=1), minlength=3))
            },
            "layer1_mean_aliased_energy": float(self.aliased_energy.mean()),
        }

    def numbers(self) -> dict:
        projections = self.projections
        return {
            "model": self.model_name,
            "summary": self.summary(),
            "dead_fraction": self.dead_fraction,
            "band_edges_cycles_per_pixel": self.band_edges,
            "norms": {l: np.round(n, 6) for l, n in self.norms.items()},
            "dead": {l: np.flatnonzero(d) for l, d in self.dead.items()},
            "layer1_band_energy": np.round(self.band_energy, 6),
            "layer1_aliased_energy": np.round(self.aliased_energy, 6),
            "projection_layer": None if projections is None else projections.layer,
            "top_activation": None if projections is None else np.round(projections.values[:, 0], 6),
        }

    def figures(self):
        return FilterComparison({self.model_name: self}, params=self.params, data=self.data).figures()


@dataclass
class FilterComparison(Result):
    """Several models' `FilterResult`s side by side (the paper's ZFNet against AlexNet)."""

    kind = "filters"

    results: Mapping[str, FilterResult]

    def numbers(self) -> dict:
        return {"models": {name: result.numbers() for name, result in self.results.items()}}

    def figures(self):
        from zfnet_tf.analysis import plots

        figures = {"filters.png": plots.filters_figure(self.results)}
        projected = [r.projections for r in self.results.values() if r.projections is not None]
        if projected:
            name = f"filters_{layer_key(projected[0].layer)}.png"
            figures[name] = plots.filter_projections_figure(self.results)
        return figures


def compare_filters(results: Sequence[FilterResult] | Mapping[str, FilterResult]) -> FilterComparison:
    """One result of several models' filter analyses, saved as one `filters.json` and figures.

    `results` named by their `model_name`s (a name given twice becomes "name (2)", ...), or
    a mapping `{name: result}`."""
    if not results:
        raise ValueError("results names no model")
    if not isinstance(results, Mapping):
        results = dict(zip(unique_names([result.model_name for result in results]), results))
    first = next(iter(results.values()))
    return FilterComparison(dict(results), params=first.params, data=first.data)


def unique_names(names: Sequence[str]) -> list[str]:
    """`names` with each repeat numbered: ["zfnet", "zfnet"] -> ["zfnet", "zfnet (2)"]."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


class FilterAnalysis(Analysis):
    """The numbers behind the paper's architecture selection (Sec. 4.1, Fig. 6).

    Zeiler & Fergus (arXiv 1311.2901): AlexNet's "first layer filters are a mix of extremely
    high and low frequency information, with little coverage of the mid frequencies", some
    are "dead", and its "2nd layer visualization shows aliasing artifacts caused by the large
    stride 4"; smaller 7x7 stride-2 filters fix both. Here those become measures: dead
    filters (near-zero norm) of every convolution, each first-layer filter's energy by
    frequency band (2D FFT), the energy its stride aliases, and, given data, the strongest
    projection of each map of a second layer.

    Args:
        model: a ZFNet, or any model the deconvnet supports.
        params: a `FilterParams` (or its fields as keywords).
        name: how results name the model (default: `model.name`).
    """

    params_class = FilterParams

    def __init__(self, model: keras.Model, params: FilterParams | None = None, name: str | None = None, **overrides):
        super().__init__(model, params, **overrides)
        self.name = name or model.name
        self.convolutions = self.deconvnet.graph.trainable_convolutions()
        if not self.convolutions:
            raise ValueError(f"model {model.name!r} has no trainable Conv2D layer: no filters to analyse")
        config = zfnet_config(model)
        layer = self.params.layer
        if layer is None:
            self.layer1 = next(iter(self.convolutions))
        else:
            named = self.deconvnet.layer_name(f"conv{layer}" if config is not None and not isinstance(layer, str) else layer)
            if named not in self.convolutions:
                raise ValueError(f"layer {layer!r} is not a trainable Conv2D; those are {list(self.convolutions)}")
            self.layer1 = named
        projection_layer = self.params.projection_layer
        if projection_layer is None:
            defaults = self.deconvnet.default_layers()
            projection_layer = 2 if config is not None and 2 in config.conv_layers else defaults[min(1, len(defaults) - 1)]
        self.projection_layer = projection_layer
        self.deconvnet.layer_name(projection_layer)  # checks it

    def run(self, data: Data | None = None) -> FilterResult:
        """Measures the filters; with `data` (`analysis_data`) also projects each map of
        `projection_layer` at its strongest activation over the data."""
        kernels = {name: keras.ops.convert_to_numpy(layer.kernel) for name, layer in self.convolutions.items()}
        norms = {l: np.sqrt((k.astype(np.float64) ** 2).sum(axis=(0, 1, 2))) for l, k in kernels.items()}
        dead = {l: n <= self.params.dead_fraction * n.max() for l, n in norms.items()}
        first = kernels[self.layer1]
        strides = tuple(int(s) for s in self.convolutions[self.layer1].strides)
        shown = first if first.shape[2] == 3 else np.repeat(first.mean(axis=2, keepdims=True), 3, axis=2)
        projections, summary = None, None
        if data is not None:
            top = Top9(self.model, layer=self.projection_layer, k=1, batch_size=self.params.batch_size,
                       progress=self.params.progress)
            projections = top.run(data)
            summary = projections.data
        fft_size, edges = self.params.fft_size, self.params.band_edges
        spectra = filter_power_spectra(first, fft_size)  # both energies read one spectrum
        return FilterResult(
            model_name=self.name,
            layer1=self.layer1,
            layer1_filters=np.transpose(shown, (3, 0, 1, 2)).astype(np.float32),
            layer1_strides=strides,
            norms=norms,
            dead=dead,
            dead_fraction=self.params.dead_fraction,
            band_energy=band_energies(first, fft_size, edges, spectra),
            band_edges=edges,
            aliased_energy=aliased_energy(first, strides, fft_size, spectra),
            projections=projections,
            params=self.params,
            data=summary,
        )
