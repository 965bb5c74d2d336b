"""One model server per test run (per xdist worker), shared by the test files that only send
it requests: the first module that asks starts it, the session's end stops it.

A module fixture asks for it (a session fixture imported into several test modules would be
one fixture per module, and start a server per module):

    @pytest.fixture(scope="module")
    def server(request):
        return shared_tiny_server(request)
"""

from __future__ import annotations

import os

import pytest

from support.exports import small_convnet
from support.servers import ServerProcess

_SHARED_SERVERS = pytest.StashKey[dict]()

SHARED_MODELS_CONFIG = """
model_config_list {
  config { name: "tiny" base_path: "%(tiny)s" model_platform: "tensorflow" }
  config { name: "convnet" base_path: "%(convnet)s" model_platform: "tensorflow" }
  config { name: "vgg16" base_path: "%(vgg16)s" model_platform: "tensorflow" }
}
"""
# Served once a test publishes a version (`publish_to_shared_server`): their base paths are
# empty when the server starts, and it looks for new versions every second.
PUBLISHED_BY_TESTS = ("vgg16",)


def write_small_convnet(folder) -> None:
    """`folder/convnet.keras` and its version 1 under `folder/saved_models/convnet`:
    `support.exports.small_convnet` with the default layers, written as `export_model` writes
    a version (its fresh-process verification is tests/export's subject, not the server's)."""
    from zfnet_tf.export.exporter import write_version_files

    model = small_convnet()
    model.save(os.path.join(folder, "convnet.keras"))
    write_version_files(model, os.path.join(folder, "saved_models", "convnet", "1"))


def small_convnet_folder(request: pytest.FixtureRequest):
    """`write_small_convnet`'s folder, written once per run (`built_once`, tests/conftest.py)."""
    return request.getfixturevalue("built_once")("small_convnet", write_small_convnet)


def shared_tiny_server(request: pytest.FixtureRequest) -> ServerProcess:
    """The test run's one server (one per xdist worker) of the session's tiny export as "tiny"
    and `write_small_convnet`'s as "convnet", with the default limits; "vgg16" gets the version
    a test publishes (`publish_to_shared_server`). Started by the first test module that asks,
    stopped when the session ends. For the tests that only send it requests (and publish a
    version of a model of their own); a test that stops, restarts or changes what a server
    serves starts its own. Its log: `shared-server.log` in the session's temporary folder."""
    shared = request.config.stash.setdefault(_SHARED_SERVERS, {})
    if "server" not in shared:
        _, tiny = request.getfixturevalue("tiny_export")
        convnet = small_convnet_folder(request) / "saved_models" / "convnet"
        root = request.getfixturevalue("tmp_path_factory").mktemp("shared_server")
        published = {name: root / name for name in PUBLISHED_BY_TESTS}
        for folder in published.values():
            folder.mkdir()
        config = root / "models.config"
        config.write_text(SHARED_MODELS_CONFIG % {"tiny": tiny, "convnet": convnet, **published})
        process = ServerProcess(
            [f"--model_config_file={config}", "--file_system_poll_wait_seconds=1"],
            ready_model="tiny",
            log_path=str(root / "shared-server.log"),
        )
        request.config.add_cleanup(process.stop)
        process.start()
        shared.update(server=process, published=published)
    process = shared["server"]
    assert process.alive(), f"the shared model server is gone:\n{process.log_tail()}"
    return process


def publish_to_shared_server(request: pytest.FixtureRequest, name: str, version_folder, timeout: float = 180.0) -> ServerProcess:
    """Publishes `version_folder` (a version of an export, `.../<N>`) under the shared server's
    base path of `name` (one of `PUBLISHED_BY_TESTS`; `ServerProcess.publish_version`) and
    returns the server once N is AVAILABLE."""
    process = shared_tiny_server(request)
    process.publish_version(name, version_folder, request.config.stash[_SHARED_SERVERS]["published"][name],
                            timeout=timeout)
    return process
