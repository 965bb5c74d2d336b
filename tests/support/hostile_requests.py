"""Requests a hostile client sends, over raw sockets (DESIGN.md §16), and a process's memory.

An HTTP client library would refuse or buffer some of these (a 200 MB body is generated
here as it is sent, never held); a raw socket sends exactly what is asked and reads the
answer while the body is still going out, as a server that refuses early answers.
"""

from __future__ import annotations

import json
import socket
import threading
import time

CHUNK = 1 << 20


def memory_kib(pid: int) -> dict[str, int]:
    """`{"VmHWM": peak resident KiB, "VmRSS": resident KiB}` of process `pid`."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    return {key: int(fields[key].split()[0]) for key in ("VmHWM", "VmRSS")}


def reset_peak_memory(pid: int) -> None:
    """Starts VmHWM of process `pid` afresh from its resident memory now (Linux' clear_refs)."""
    with open(f"/proc/{pid}/clear_refs", "w") as handle:
        handle.write("5")


def deep_json(depth: int) -> bytes:
    """A Predict body whose `instances` nest `depth` arrays deep."""
    return b'{"instances": ' + b"[" * depth + b"1" + b"]" * depth + b"}"


def _read_response(sock: socket.socket) -> tuple[int, dict, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            raise ConnectionError(f"the server closed the connection without an answer (got {data[:200]!r})")
        data += part
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        part = sock.recv(65536)
        if not part:
            break
        body += part
    return status, headers, body[:length]


def post_streamed(
    host: str, port: int, path: str, body_bytes: int, chunked: bool, timeout: float = 60.0
) -> tuple[int, dict, float]:
    """POSTs a body of `body_bytes` bytes (the start of a Predict request, then spaces), with
    `Content-Length` or chunked, sending it from a thread while the answer is read here.

    Returns `(HTTP status, JSON answer, seconds from the first byte sent to the answer)`.
    """
    sock = socket.create_connection((host, port), timeout=timeout)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {body_bytes}\r\n"
    prefix = b'{"instances": ["'
    filler = b" " * CHUNK
    stop = threading.Event()

    def send_body() -> None:
        sent = 0
        try:
            while sent < body_bytes and not stop.is_set():
                piece = (prefix + filler)[: min(CHUNK, body_bytes - sent)] if sent == 0 else filler[: min(CHUNK, body_bytes - sent)]
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
            if chunked and not stop.is_set():
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server stopped reading: it has answered (or closed)

    start = time.perf_counter()
    sock.sendall(head.encode("latin-1") + b"\r\n")
    sender = threading.Thread(target=send_body, daemon=True)
    sender.start()
    try:
        status, headers, body = _read_response(sock)
        elapsed = time.perf_counter() - start
    finally:
        stop.set()
        sock.close()
        sender.join(timeout=timeout)
    return status, json.loads(body), elapsed
