"""A model server (or the explorer's proxy) in a child process on free local ports: for tests,
benchmarks and screenshots.

    with ServerProcess(["--model_name=tiny", "--model_base_path=saved_models/tiny"],
                       ready_model="tiny") as server:
        ServingClient(server.rest_address, "tiny").classify(...)

By default the child is this project's server (`python -m zfnet_tf.serving`); pass
`command=["tensorflow_model_server"]` to run TF Serving's binary the same way.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Iterator, Sequence


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """Starts a TF Serving API server with `--port` and `--rest_api_port` set to free ports
    and waits until `ready_model` answers `GET /v1/models/NAME`.

    Args:
        args: the server's other flags (model name and base path, or a config file, ...).
        ready_model: the model whose status must answer before `start` returns.
        command: the server program; default this project's `python -m zfnet_tf.serving`.
        host: where the client connects (and, for this project's server, where it listens).
        log_path: file for the child's stdout and stderr (default: a temporary file).
        python_flags: interpreter flags for the default command (e.g. `-X importtime`).
    """

    def __init__(
        self,
        args: Sequence[str],
        ready_model: str,
        command: Sequence[str] | None = None,
        host: str = "127.0.0.1",
        log_path: str | None = None,
        python_flags: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ):
        self.own_server = command is None
        self.command = list(command) if command else [sys.executable, *python_flags, "-m", "zfnet_tf.serving"]
        self.args = list(args)
        self.ready_model = ready_model
        self.host = host
        self.log_path = log_path
        self.env = env
        self.grpc_port = 0
        self.rest_port = 0
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def rest_address(self) -> str:
        return f"{self.host}:{self.rest_port}"

    @property
    def grpc_address(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    def start(self, timeout: float = 180.0) -> "ServerProcess":
        self.grpc_port, self.rest_port = free_port(self.host), free_port(self.host)
        flags = [f"--port={self.grpc_port}", f"--rest_api_port={self.rest_port}"]
        if self.own_server:
            flags.append(f"--host={self.host}")
        if self.log_path is None:
            handle, self.log_path = tempfile.mkstemp(prefix="model-server-", suffix=".log")
            os.close(handle)
        self._log = open(self.log_path, "wb")
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.process = subprocess.Popen(
            [*self.command, *flags, *self.args], stdout=self._log, stderr=subprocess.STDOUT, env=env
        )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        url = f"http://{self.rest_address}/v1/models/{self.ready_model}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the model server exited with code {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"the model server did not serve {url} within {timeout:g} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @contextlib.contextmanager
    def http_client(self, timeout: float = 120.0) -> Iterator["httpx.Client"]:
        """An `httpx.Client` whose relative URLs go to this server's REST port."""
        import httpx

        with httpx.Client(base_url=f"http://{self.rest_address}", timeout=timeout) as client:
            yield client

    def publish_version(self, name: str, version_folder, base_path, version: int | None = None,
                        timeout: float = 180.0) -> list[dict]:
        """Copies `version_folder` (an export's `.../<N>`) into `base_path` as `version`
        (default N), written aside and renamed into place as `export_model` publishes, and waits
        until this server reports that version of model `name` AVAILABLE; returns the model's
        version statuses then (RuntimeError if it fails to load it or does not within
        `timeout`)."""
        version = str(version) if version is not None else os.path.basename(os.fspath(version_folder))
        target = pathlib.Path(base_path) / version
        if not target.exists():
            staging = target.parent / f".copy-{version}"
            shutil.copytree(version_folder, staging)
            staging.rename(target)
        deadline = time.monotonic() + timeout
        with self.http_client(timeout=30) as http:  # one client: each new one loads the CA certificates
            while time.monotonic() < deadline:
                answer = http.get(f"/v1/models/{name}")
                if answer.status_code == 200:
                    statuses = answer.json()["model_version_status"]
                    status = next((s for s in statuses if s["version"] == version), None)
                    if status is not None and status["state"] == "AVAILABLE":
                        return statuses
                    if status is not None and status["status"]["error_message"]:
                        raise RuntimeError(f"the server could not load {name} version {version}: {status}")
                time.sleep(0.25)
        raise RuntimeError(f"the server did not serve {name} version {version} within {timeout:g} s:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ExplorerProcess:
    """`zfnet-tf explore` in a child process on a free local port, in front of `model_server`.

    `url` is the page's address once `start` returns; `stop` returns what it printed.
    """

    def __init__(self, model_server: str, model_name: str, host: str = "127.0.0.1"):
        self.model_server = model_server
        self.model_name = model_name
        self.host = host
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> "ExplorerProcess":
        self.port = free_port(self.host)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "zfnet_tf.cli.main", "explore", "--model_server", self.model_server,
             "--model_name", self.model_name, "--host", self.host, "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"zfnet-tf explore exited with code {self.process.returncode}:\n{self.stop()}")
            try:
                with urllib.request.urlopen(self.url + "/explorer/config.json", timeout=5) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        output = self.stop()
        raise RuntimeError(f"zfnet-tf explore did not serve {self.url} within {timeout:g} s:\n{output}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> str:
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            output, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        return output or ""

    def __enter__(self) -> "ExplorerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
