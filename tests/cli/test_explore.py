"""`zfnet-tf explore`: flags, the address it prints, and a model server that is not there.

(The page through it, against a real model server, is tests/serving/test_explorer.py.)
"""

import httpx
import pytest

from zfnet_tf.serving.explorer.proxy import normalize_server_address
from zfnet_tf.serving.limits import DEFAULT_MAX_REQUEST_BYTES
from support.cli import run_main
from support.servers import ExplorerProcess, free_port


def test_explore_serves_the_page_and_reports_an_absent_model_server():
    nothing = f"127.0.0.1:{free_port()}"  # no server listens there
    proxy = ExplorerProcess(nothing, "zfnet").start()
    try:
        page = httpx.get(proxy.url + "/", timeout=30)
        assert page.status_code == 200 and 'data-testid="image-input"' in page.text
        assert httpx.get(proxy.url + "/explorer/config.json", timeout=30).json() == {
            "models": ["zfnet"], "default_model": "zfnet", "max_request_bytes": DEFAULT_MAX_REQUEST_BYTES
        }
        for method, path in (("GET", "/v1/models/zfnet/metadata"), ("POST", "/v1/models/zfnet:predict")):
            answer = httpx.request(method, proxy.url + path, content=b"{}", timeout=30)
            assert answer.status_code == 502
            assert answer.json()["error"].startswith(f"cannot reach the model server at http://{nothing}")
        assert proxy.alive()
    finally:
        output = proxy.stop()
    assert f"warning: cannot reach http://{nothing}/v1/models/zfnet" in output
    assert f"Explorer of model zfnet on http://{nothing}: http://localhost:{proxy.port}/" in output


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model_server", "ftp://host:21", "--model_name", "m"], "must be an http(s) address"),
        (["--model_server", "localhost:8501", "--model_name", "m", "--port", "0"], "--port must be a port number"),
        (["--model_server", "localhost:8501", "--model_name", "m", "--timeout", "0"],
         "argument --timeout: must be a positive number, got 0"),
    ],
)
def test_explore_refuses_bad_flags(flags, message, capsys):
    code, _, err = run_main(["explore", *flags], capsys)
    assert code == 2
    assert message in err


def test_explore_says_when_its_port_is_taken(capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run_main(["explore", "--model_server", "localhost:1", "--model_name", "m", "--port", port],
                                capsys)
    assert code == 2
    assert f"cannot listen for the explorer page on 127.0.0.1:{port}" in err


def test_model_server_addresses():
    assert normalize_server_address("localhost:8501") == "http://localhost:8501"
    assert normalize_server_address("https://models.example:443/") == "https://models.example:443"
    with pytest.raises(ValueError, match="must be an address"):
        normalize_server_address(" ")
