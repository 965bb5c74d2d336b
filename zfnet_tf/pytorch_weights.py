"""The PyTorch side of `zfnet_tf.pretrained`: a state dict file to NumPy arrays, in its own process.

PyTorch and TensorFlow in one Python process have crashed (DESIGN §8), so `zfnet_tf.pretrained`
runs this module as `python -m zfnet_tf.pytorch_weights ...`: it imports torch (and, to fetch,
pytorchcv) and never TensorFlow, and hands the tensors back as an uncompressed `.npz` file.

    python -m zfnet_tf.pytorch_weights read FILE.pth OUT.npz
    python -m zfnet_tf.pytorch_weights fetch NAME OUT.npz   # pytorchcv's model store

`fetch` goes through pytorchcv's own store (`get_model_file`): its file table, download,
cache (`~/.torch/models`) and SHA-1 check. The process reports on stdout, one JSON object a
line: `{"event": "download", "file": ZIP, "url": URL}` when pytorchcv starts a download
(the caller watches ZIP grow), `{"event": "read", "file": PTH}`, then `{"event": "done",
"tensors": N}` or `{"event": "error", "kind": KIND, "message": ...}` (exit code 1), KIND one of
"missing_extra", "network", "fetch", "bad_file".
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys

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


def _import_torch():
    try:
        import torch
    except ImportError as error:
        raise WorkerError("missing_extra", f"PyTorch is not installed ({error}); {EXTRA_HINT}") from None
    return torch


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:240]}{'...' if len(text) > 240 else ''}"


def fetch(name: str) -> str:
    """The path of pytorchcv's published file for `name`, downloaded and checked if needed."""
    _import_torch()
    try:
        # Not pytorchcv.model_provider: it imports every model, some through torchvision's ops.
        from pytorchcv.models.common.model_store import get_model_file
    except ImportError as error:
        raise WorkerError("missing_extra", f"pytorchcv is not installed ({error}); {EXTRA_HINT}") from None
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
        raise WorkerError(
            "bad_file",
            f"{path} is not a readable PyTorch state dict (truncated, or not written by "
            f"torch.save): {_reason(error)}",
        ) from None
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
    if len(argv) != 3 or argv[0] not in ("read", "fetch"):
        print("usage: python -m zfnet_tf.pytorch_weights {read FILE|fetch NAME} OUT.npz", file=sys.stderr)
        return 2
    command, source, out = argv
    try:
        path = fetch(source) if command == "fetch" else source
        emit("read", file=path)
        arrays = read_state_dict(path, trusted=command == "fetch")
        import numpy as np

        np.savez(out, **arrays)
    except WorkerError as error:
        emit("error", kind=error.kind, message=str(error))
        return 1
    emit("done", tensors=len(arrays))
    return 0


if __name__ == "__main__":
    sys.exit(main())
