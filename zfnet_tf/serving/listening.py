"""The HTTP start-up shared by `zfnet-tf serve` (REST) and `zfnet-tf explore` (the page's
proxy): a socket bound before any slow work, served by uvicorn, and the address to show."""

from __future__ import annotations

import socket

LOCAL_HOSTS = ("0.0.0.0", "127.0.0.1", "")


def bound_socket(host: str, port: int, what: str) -> socket.socket:
    """A TCP socket bound to `(host, port)`, so a taken port fails at once with a one-line
    ValueError ("cannot listen for <what> on host:port: Address already in use")."""
    # IPPROTO_TCP spelled out: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say
    # so, and without it small answers wait 40 ms for delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ValueError(f"cannot listen for {what} on {host}:{port}: {error.strerror}") from None
    return sock


def shown_address(host: str, port: int) -> str:
    """The page's URL as a user opens it (`http://localhost:8080/` for a local host)."""
    return f"http://{'localhost' if host in LOCAL_HOSTS else host}:{port}/"


def uvicorn_server(app, **config):
    """A quiet uvicorn server of `app` (warnings only, no access log); `run(sockets=[...])`
    serves a `bound_socket`."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, **config))
