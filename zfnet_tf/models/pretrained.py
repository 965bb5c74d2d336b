"""imgclsmob's published ImageNet-1k ZFNets (pytorchcv `zfnet`, `zfnetb`) as zfnet-tf models.

DESIGN §12. The networks are the `zfnet_imgclsmob` / `zfnetb_imgclsmob` presets (Fig. 3's
geometry, or Table 3's 512-1024-512 maps, with response normalization before pools 1-2 and
torchvision's input normalization); the weights are read from a PyTorch state dict in a
separate process (`zfnet_tf.pytorch_weights`: torch and TensorFlow never share a process) and
laid out for Keras: conv kernels OIHW -> HWIO, dense (out, in) -> (in, out), and fc6's inputs
permuted from PyTorch's channel-first flatten to the NHWC flatten.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from zfnet_tf.config import PRESETS, PRETRAINED_PRESETS, ZFNetConfig, pretrained_preset
from zfnet_tf.data.imagenet import imagenet_classes
from zfnet_tf.models import build_model
from zfnet_tf.models.classifier import ZFNetImageClassifier

# A download that receives no byte for this long is taken for a missing network and stopped.
STALL_SECONDS = 30.0
_WORKER_MODULE = "zfnet_tf.pytorch_weights"


@dataclass(frozen=True)
class TorchTensor:
    """Where one Keras weight comes from in pytorchcv's state dict."""

    key: str  # e.g. "features.stage1.unit1.conv.weight"
    layer: str  # the Keras layer, e.g. "conv1"
    shape: tuple[int, ...]  # the PyTorch shape


def torch_layout(config: ZFNetConfig) -> list[TorchTensor]:
    """The state-dict tensors of pytorchcv's AlexNet/ZFNet for a network of `config`, in order.

    pytorchcv groups the conv units into stages that each end with a pool (`stage1.unit1` is
    layer 1, `stage3.unit1..3` are layers 3-5 for Fig. 3), and names the dense layers
    `output.fc1.fc`, `output.fc2.fc` and the classifier `output.fc3`.
    """
    tensors = []
    stage, unit, channels = 1, 0, 3
    for block in config.conv_blocks:
        unit += 1
        prefix = f"features.stage{stage}.unit{unit}.conv"
        kernel = (block.filters, channels, block.kernel_size, block.kernel_size)
        tensors += [
            TorchTensor(f"{prefix}.weight", f"conv{block.layer}", kernel),
            TorchTensor(f"{prefix}.bias", f"conv{block.layer}", (block.filters,)),
        ]
        channels = block.filters
        if block.pool:
            stage, unit = stage + 1, 0
    side = list(config.feature_map_sizes().values())[-1]
    inputs = side * side * channels
    for index, units in enumerate((*config.dense_units, config.num_classes)):
        last = index == len(config.dense_units)
        prefix = f"output.fc{index + 1}" + ("" if last else ".fc")
        layer = "fc8" if last else f"fc{6 + index}"
        tensors += [
            TorchTensor(f"{prefix}.weight", layer, (units, inputs)),
            TorchTensor(f"{prefix}.bias", layer, (units,)),
        ]
        inputs = units
    return tensors


def _matching_architectures(state: Mapping[str, np.ndarray]) -> list[str]:
    return [
        name
        for name, preset in PRETRAINED_PRESETS.items()
        if all(
            t.key in state and tuple(state[t.key].shape) == t.shape for t in torch_layout(PRESETS[preset])
        )
    ]


def check_state_dict(state: Mapping[str, np.ndarray], config: ZFNetConfig, name: str, source: str) -> None:
    """Raises ValueError naming the first tensor `state` lacks or has in another shape."""
    for tensor in torch_layout(config):
        if tensor.key not in state:
            raise ValueError(
                f"{source} has no tensor {tensor.key!r}: it is not a state dict of pytorchcv's {name}"
            )
        shape = tuple(state[tensor.key].shape)
        if shape != tensor.shape:
            others = [n for n in _matching_architectures(state) if n != name]
            hint = f" (it holds the weights of {others[0]})" if others else ""
            raise ValueError(
                f"{source}: tensor {tensor.key!r} has shape {shape}, but {name} needs "
                f"{tensor.shape}{hint}"
            )


def load_torch_state_dict(model: ZFNetImageClassifier, state: Mapping[str, np.ndarray], name: str, source: str) -> None:
    """Sets `model`'s weights from pytorchcv's state dict (checked first, see `check_state_dict`)."""
    config = model.config
    check_state_dict(state, config, name, source)
    backbone = model.backbone
    # fc6 reads the last maps flattened: PyTorch in (C, H, W) order, Keras in (H, W, C) order.
    flat_h, flat_w, flat_c = backbone.get_layer("flatten").input.shape[1:]
    tensors = {t.key: t for t in torch_layout(config)}
    by_layer: dict[str, list[np.ndarray]] = {}
    for key, tensor in tensors.items():
        value = np.asarray(state[key], np.float32)
        if value.ndim == 4:  # conv OIHW -> HWIO
            value = value.transpose(2, 3, 1, 0)
        elif value.ndim == 2:  # dense (out, in) -> (in, out)
            if tensor.layer == "fc6":
                units = value.shape[0]
                value = value.reshape(units, flat_c, flat_h, flat_w).transpose(2, 3, 1, 0)
                value = value.reshape(flat_h * flat_w * flat_c, units)
            else:
                value = value.T
        by_layer.setdefault(tensor.layer, []).append(np.ascontiguousarray(value))
    for layer_name, weights in by_layer.items():
        layer = model.get_layer("fc8") if layer_name == "fc8" else backbone.get_layer(layer_name)
        layer.set_weights(weights)


def _worker_env() -> dict[str, str]:
    """The caller's environment; the package's folder goes last on PYTHONPATH so that the
    worker finds `zfnet_tf` even when it is not installed, and anything the caller put first
    stays first."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join([*paths, root]))


def run_torch_worker(command: str, source: str, out: str) -> None:
    """Runs `python -m zfnet_tf.pytorch_weights COMMAND SOURCE OUT` and raises ValueError with
    its message when it fails.

    While pytorchcv downloads, the file it writes must grow: after `STALL_SECONDS` without a
    new byte (no network, a firewall that drops packets, a dead proxy) the worker is stopped.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", _WORKER_MODULE, command, source, out],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_worker_env(),
    )
    events: queue.Queue = queue.Queue()
    stderr: list[str] = []

    def read_events():
        for line in process.stdout:
            try:
                events.put(json.loads(line))
            except json.JSONDecodeError:
                stderr.append(line)
        events.put(None)

    readers = [
        threading.Thread(target=read_events, daemon=True),
        threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True),
    ]
    for reader in readers:
        reader.start()
    download, received, since, final = None, -1, 0.0, None
    try:
        while True:
            try:
                event = events.get(timeout=0.5)
            except queue.Empty:
                event = {}
            if event is None:
                break
            kind = event.get("event")
            if kind == "download" and download is None:
                download, since = event, time.monotonic()
            elif kind == "read":
                download = None  # fetched (or already cached): no more network
            elif kind in ("done", "error"):
                final = event
            if download is not None:
                size = os.path.getsize(download["file"]) if os.path.exists(download["file"]) else 0
                if size > received:
                    received, since = size, time.monotonic()
                elif time.monotonic() - since > STALL_SECONDS:
                    raise ValueError(
                        f"no network: fetching {download['url']} received no data for "
                        f"{STALL_SECONDS:g} s"
                    )
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for reader in readers:
            reader.join(timeout=5)
    if final is not None and final.get("event") == "error":
        message = final["message"]
        if final.get("kind") == "network":
            message = f"no network: {message}"
        raise ValueError(message)
    if process.returncode != 0 or final is None:
        tail = " | ".join(line.strip() for line in stderr[-3:] if line.strip())
        raise ValueError(f"reading the PyTorch weights failed (exit code {process.returncode}): {tail}")


def read_torch_weights(name: str, weights: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """The state dict of pytorchcv's `name` as NumPy arrays: from `weights` (a `.pth` file),
    else pytorchcv's published file (downloaded and checksum-verified by its model store)."""
    with tempfile.TemporaryDirectory(prefix="zfnet-tf-pretrained-") as scratch:
        arrays = os.path.join(scratch, "state_dict.npz")
        if weights is None:
            run_torch_worker("fetch", name, arrays)
        else:
            weights = os.fspath(weights)
            if not os.path.isfile(weights):
                raise ValueError(f"weights file not found: {weights}")
            run_torch_worker("read", os.path.abspath(weights), arrays)
        with np.load(arrays, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}


def pretrained(name: str, weights: str | os.PathLike | None = None) -> ZFNetImageClassifier:
    """imgclsmob's ImageNet-1k ZFNet `name` ("zfnet" or "zfnetb") as a zfnet-tf classifier.

    Without `weights`, pytorchcv's model store fetches the published file (e.g.
    `zfnet-1727-d010ddca.pth`; checksum-verified, cached in `~/.torch/models`); `weights` is a
    local state dict of that architecture instead (the published `.pth`, or what
    `torch.save(model.state_dict())` wrote). Needs the `pretrained` extra (torch, pytorchcv).

    The model takes RGB 0-255 at 224x224 like every zfnet-tf model, carries the input
    normalization and the evaluation transform (shorter side 256, centre 224) in its config,
    and has the 1000 ImageNet class names (`model.class_names`).

    Raises:
        ValueError: an unknown name, a missing or unreadable file, another architecture's
            weights (naming the tensor and both shapes), a missing extra, or no network.
    """
    preset = pretrained_preset(name)
    state = read_torch_weights(name, weights)
    source = os.fspath(weights) if weights is not None else f"pytorchcv's {name} file"
    check_state_dict(state, PRESETS[preset], name, source)
    model = build_model(preset, class_names=list(imagenet_classes().names))
    load_torch_state_dict(model, state, name, source)
    return model
