"""Which versions of which models are loaded: TF Serving's file-system source, in Python.

Each model's base path is polled; versions are the integer-named sub-folders. The version
policy of `models.config` (latest N, all, specific) picks the versions to serve; new ones
load while the old keep answering, and an old one unloads once a newer one is available
(or its folder is gone). A version that fails to load is retried on later polls up to
`max_num_load_retries` times and reported with its error by `GetModelStatus`.
"""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass

import grpc
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

from zfnet_tf.export.layout import list_versions
from zfnet_tf.serving.errors import invalid_argument, not_found
from zfnet_tf.serving.servable import Servable

State = get_model_status_pb2.ModelVersionStatus.State
logger = logging.getLogger("zfnet_tf.serving")


def settle_memory() -> None:
    """Collects garbage, then freezes what lives on out of the garbage collector's sight.

    TensorFlow and a loaded model are hundreds of thousands of long-lived Python objects;
    left in the collected generations, every full collection (which large JSON requests
    trigger often) would walk them all and stall requests for 100s of ms. Unfreezing first
    lets an unloaded version's objects be freed.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@dataclass
class VersionState:
    version: int
    state: int = State.START
    servable: Servable | None = None
    error: str = ""
    error_code: grpc.StatusCode = grpc.StatusCode.OK
    failed_loads: int = 0


class ServedModel:
    """The versions of one model (one `ModelConfig`)."""

    def __init__(
        self,
        config: model_server_config_pb2.ModelConfig,
        max_batch_size: int,
        max_num_load_retries: int,
    ):
        self.name = config.name
        self.base_path = config.base_path
        self.config = config
        self.max_batch_size = max_batch_size
        self.max_num_load_retries = max_num_load_retries
        self.labels = dict(config.version_labels)
        self._versions: dict[int, VersionState] = {}
        self._lock = threading.Lock()
        self._warned_empty = False

    # -- what to serve ----------------------------------------------------------------------

    def aspired_versions(self, on_disk: list[int]) -> list[int]:
        policy = self.config.model_version_policy
        choice = policy.WhichOneof("policy_choice")
        if choice == "all":
            return list(on_disk)
        if choice == "specific":
            return [v for v in on_disk if v in set(policy.specific.versions)]
        count = policy.latest.num_versions if choice == "latest" and policy.latest.num_versions else 1
        return on_disk[-count:]

    def poll(self) -> bool:
        """Loads newly aspired versions, then unloads the ones no longer wanted; whether it
        loaded or unloaded any (the caller then settles the memory, `settle_memory`)."""
        changed = False
        on_disk = list_versions(self.base_path)
        if not on_disk and not self._warned_empty:
            logger.warning("No versions of servable %s found under base path %s", self.name, self.base_path)
            self._warned_empty = True
        aspired = self.aspired_versions(on_disk)
        for version in aspired:
            with self._lock:
                state = self._versions.setdefault(version, VersionState(version))
                if state.state in (State.AVAILABLE, State.LOADING):
                    continue
                if state.failed_loads > self.max_num_load_retries:
                    continue
                state.state = State.LOADING
            changed |= self._load(state)
        with self._lock:
            available_aspired = [
                v for v in aspired if self._versions[v].state == State.AVAILABLE
            ]
            for version, state in list(self._versions.items()):
                if version in aspired:
                    continue
                gone = version not in on_disk
                if state.state == State.AVAILABLE and (available_aspired or gone):
                    logger.info("Unloading servable version {name: %s version: %d}", self.name, version)
                    state.state = State.END
                    state.servable = None  # requests in flight keep their own reference
                    changed = True
                if gone and state.state != State.AVAILABLE:
                    del self._versions[version]
        return changed

    def _load(self, state: VersionState) -> bool:
        """Loads the version; whether it did (a failure is recorded in `state`)."""
        path = f"{self.base_path}/{state.version}"
        logger.info("Loading servable version {name: %s version: %d} from %s", self.name, state.version, path)
        try:
            servable = Servable(self.name, state.version, path, self.max_batch_size)
        except Exception as error:  # a broken SavedModel must not take the server down
            with self._lock:
                state.failed_loads += 1
                state.state = State.END
                state.error_code = grpc.StatusCode.UNKNOWN
                state.error = f"loading {path} failed: {type(error).__name__}: {error}"
            logger.error("%s", state.error)
            return False
        with self._lock:
            state.servable = servable
            state.state = State.AVAILABLE
            state.error, state.error_code = "", grpc.StatusCode.OK
        logger.info("Successfully loaded servable version {name: %s version: %d}", self.name, state.version)
        return True

    # -- lookups ----------------------------------------------------------------------------

    def resolve_label(self, label: str) -> int:
        if label not in self.labels:
            raise invalid_argument(
                f"Unrecognized servable version label: {label} (model {self.name} has labels: "
                f"{', '.join(sorted(self.labels)) or 'none'})"
            )
        return self.labels[label]

    def available_versions(self) -> list[int]:
        with self._lock:
            return sorted(v for v, s in self._versions.items() if s.state == State.AVAILABLE)

    def get(self, version: int | None = None, label: str | None = None) -> Servable:
        if label:
            version = self.resolve_label(label)
        with self._lock:
            if version is None:
                available = [s for s in self._versions.values() if s.state == State.AVAILABLE]
                if available:
                    return max(available, key=lambda s: s.version).servable
            else:
                state = self._versions.get(version)
                if state is not None and state.state == State.AVAILABLE:
                    return state.servable
        served = ", ".join(map(str, self.available_versions())) or "none"
        what = f"Latest({self.name})" if version is None else f"Specific({self.name}, {version})"
        raise not_found(f"Servable not found for request: {what} (versions available: {served})")

    def statuses(self, version: int | None = None, label: str | None = None):
        """`ModelVersionStatus` protos, newest first, for one version or all."""
        if label:
            version = self.resolve_label(label)
        with self._lock:
            states = sorted(self._versions.values(), key=lambda s: -s.version)
            if version is not None:
                states = [s for s in states if s.version == version]
                if not states:
                    raise not_found(f"Could not find version {version} of model {self.name}")
            result = []
            for s in states:
                status = get_model_status_pb2.ModelVersionStatus(version=s.version, state=s.state)
                status.status.error_code = s.error_code.value[0]
                status.status.error_message = s.error
                result.append(status)
        if not result:
            raise not_found(f"Could not find any versions of model {self.name}")
        return result


class ModelManager:
    """Every model of a `ModelServerConfig`, polled by one background thread."""

    def __init__(
        self,
        config: model_server_config_pb2.ModelServerConfig,
        max_batch_size: int,
        poll_wait_seconds: float = 1.0,
        max_num_load_retries: int = 5,
    ):
        self.models = {
            c.name: ServedModel(c, max_batch_size, max_num_load_retries)
            for c in config.model_config_list.config
        }
        self.poll_wait_seconds = poll_wait_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Loads what is on disk now, then (if polling) keeps watching in the background."""
        self.poll()
        if self.poll_wait_seconds > 0:
            self._thread = threading.Thread(target=self._run, name="model-poller", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def poll(self) -> None:
        """Polls every model, then settles the memory once if any version came or went (one
        collection for all the models a server starts with, not one per model)."""
        changed = False
        for model in self.models.values():
            try:
                changed |= model.poll()
            except Exception:  # a poll error (e.g. an unreadable folder) is retried next time
                logger.exception("polling %s failed", model.base_path)
        if changed:
            settle_memory()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_wait_seconds):
            self.poll()

    def model(self, name: str, version: int | None = None) -> ServedModel:
        if not name:
            raise invalid_argument("Missing model name in request.")
        model = self.models.get(name)
        if model is None:
            what = f"Latest({name})" if version is None else f"Specific({name}, {version})"
            raise not_found(
                f"Servable not found for request: {what} (this server serves: "
                f"{', '.join(sorted(self.models))})"
            )
        return model

    def get(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        return self.model(name, version).get(version, label)

