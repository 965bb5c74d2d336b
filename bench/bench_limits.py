"""What hostile requests cost the model server (DESIGN.md §16), and a burst after them.

    python bench/bench_limits.py                                   # tiny preset, random weights
    python bench/bench_limits.py --base-path /tmp/d/saved_models/zfnet --model-name zfnet

Starts `python -m zfnet_tf.serving` in a child process and prints:
- bomb-to-refusal latency: a 20000x20000 black PNG (0.39 MB; 1.2 GB as RGB), a 0.39 MB GIF
  of 100 frames of 2000x2000 (0.4 GB to decode) and PNG / JPEG headers claiming huge sizes, through `classify_bytes` over REST and gRPC, next to a normal
  640x480 photo's classification (the ratio says the refusal costs less than real work);
- a 200 MB body with Content-Length and chunked (413), and JSON nested 100000 deep (400);
- a burst of `--burst` valid requests from as many clients at once: how many were answered,
  its wall time, and the server's peak resident memory (VmHWM) before and after; then what
  the largest image the default limit lets through (8192 x 8192) costs;
- the JSON depth scan's share of a batch-8 image request's parse;
- decoding a 4000x3000 JPEG at a reduced scale (`decode_jpeg`'s `ratio`) against a full
  decode followed by the evaluation resize: time ratio and the largest pixel difference.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import numpy as np  # noqa: E402

from support.hostile_requests import deep_json, memory_kib, post_streamed  # noqa: E402
from support.image_bombs import black_png, encoded, gif_frames, jpeg_claiming, png_claiming  # noqa: E402


def timed(call):
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def median_seconds(call, repeats: int = 5) -> float:
    return float(np.median([timed(call)[1] for _ in range(repeats)]))


def tiny_export(root: str) -> str:
    import keras

    import zfnet_tf
    from zfnet_tf.export import export_model

    keras.utils.set_random_seed(0)
    base = os.path.join(root, "tiny")
    export_model(zfnet_tf.build_model("tiny"), base)
    return base


def bench_server(base_path: str, model_name: str, burst: int, at_once: int) -> None:
    import grpc
    import httpx
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from support.servers import ServerProcess

    args = [f"--model_name={model_name}", f"--model_base_path={base_path}",
            f"--max_concurrent_requests={at_once}", "--file_system_poll_wait_seconds=0"]
    with ServerProcess(args, ready_model=model_name) as server:
        pid = server.process.pid
        url = f"http://{server.rest_address}/v1/models/{model_name}:predict"
        host, port = server.rest_address.split(":")
        channel = grpc.insecure_channel(server.grpc_address, options=[("grpc.max_send_message_length", -1)])
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def rest(data: bytes) -> int:
            body = {"signature_name": "classify_bytes", "instances": [{"b64": base64.b64encode(data).decode()}]}
            return httpx.post(url, json=body, timeout=600).status_code

        def grpc_call(data: bytes) -> str:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = "classify_bytes"
            request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([data]))
            try:
                stub.Predict(request, timeout=600)
                return "OK"
            except grpc.RpcError as error:
                return error.code().name

        photo = encoded("JPEG", 640, 480)
        assert rest(photo) == 200  # warm: the signature's first call traces nothing but loads kernels
        start_memory = memory_kib(pid)
        normal = median_seconds(lambda: rest(photo))
        print(f"server resident after warm-up: {start_memory['VmRSS'] / 1024:.0f} MiB "
              f"(peak so far {start_memory['VmHWM'] / 1024:.0f} MiB)")
        print(f"normal 640x480 JPEG, classify_bytes over REST: {normal * 1000:.1f} ms (median of 5)")
        print("\nbomb -> refusal              REST status  REST ms  x normal   gRPC code          gRPC ms")
        bombs = {
            "20000x20000 black PNG": black_png(20000, 20000),
            "PNG claiming 100000x90000": png_claiming(100000, 90000),
            "JPEG claiming 65000x64000": jpeg_claiming(65000, 64000),
            "GIF, 100 frames of 2000x2000": gif_frames(2000, 2000, 100),
        }
        for name, data in bombs.items():
            status, rest_seconds = timed(lambda: rest(data))
            code, grpc_seconds = timed(lambda: grpc_call(data))
            print(f"{name:28s} {status:>11d} {rest_seconds * 1000:8.1f} {rest_seconds / normal:8.2f}x  "
                  f"{code:18s} {grpc_seconds * 1000:7.1f}")
        print()
        for chunked in (False, True):
            status, _, seconds = post_streamed(host, int(port), f"/v1/models/{model_name}:predict", 200 * 10**6, chunked)
            kind = "chunked" if chunked else "Content-Length"
            print(f"200 MB body ({kind}): HTTP {status} after {seconds * 1000:.1f} ms")
        deep = deep_json(100_000)
        answer, seconds = timed(lambda: httpx.post(url, content=deep, timeout=60))
        print(f"JSON nested 100000 deep ({len(deep) / 1e3:.0f} kB): HTTP {answer.status_code} after {seconds * 1000:.1f} ms")

        photos = [encoded("JPEG", 640 + 8 * i, 480, seed=i) for i in range(burst)]
        with concurrent.futures.ThreadPoolExecutor(burst) as pool:
            statuses, seconds = timed(lambda: list(pool.map(rest, photos)))
        after = memory_kib(pid)
        print(f"\nburst of {burst} classify_bytes requests at once ({at_once} run at a time): "
              f"{statuses.count(200)}/{burst} answered 200 in {seconds:.2f} s")
        print(f"server peak resident memory (VmHWM) over the whole sequence: {after['VmHWM'] / 1024:.0f} MiB "
              f"(+{(after['VmHWM'] - start_memory['VmHWM']) / 1024:.0f} MiB over the warm-up peak); "
              f"resident now {after['VmRSS'] / 1024:.0f} MiB; server alive: {server.alive()}")
        # The largest image the default limit lets through (64 * 2**20 pixels): what one costs.
        largest = black_png(8192, 8192)
        status, seconds = timed(lambda: rest(largest))
        peak = memory_kib(pid)["VmHWM"]
        print(f"largest allowed image (8192x8192 PNG, {len(largest) / 1e6:.2f} MB): HTTP {status} in {seconds:.2f} s, "
              f"server peak now {peak / 1024:.0f} MiB (+{(peak - after['VmHWM']) / 1024:.0f} MiB)")
        channel.close()


def bench_depth_scan() -> None:
    import orjson

    from zfnet_tf.serving.limits import json_depth

    body = orjson.dumps({"instances": np.random.default_rng(0).uniform(0, 255, (8, 224, 224, 3)).round(2).tolist()})
    scan = median_seconds(lambda: json_depth(body))
    parse = median_seconds(lambda: orjson.loads(body))
    print(f"\nJSON depth scan of a batch-8 224x224 request ({len(body) / 1e6:.1f} MB): {scan * 1000:.1f} ms, "
          f"{scan / parse:.2f}x orjson's parse ({parse * 1000:.1f} ms)")


def bench_jpeg_ratio() -> None:
    import tensorflow as tf

    from zfnet_tf.data import resize_to_square

    rng = np.random.default_rng(0)
    # A smooth photo-like image (random noise would be an unfair JPEG).
    small = rng.uniform(0, 255, (30, 40, 3)).astype(np.float32)
    pixels = tf.cast(tf.image.resize(small, (3000, 4000), method="bicubic"), tf.uint8)
    data = tf.io.encode_jpeg(pixels, quality=90)
    full = lambda: resize_to_square(tf.io.decode_jpeg(data, channels=3), 224, 256)  # noqa: E731
    reference = full().numpy()
    base = median_seconds(full, 3)
    print("\nfull 4000x3000 JPEG decode + resize to 256/crop 224: "
          f"{base * 1000:.0f} ms; with decode_jpeg's ratio:")
    for ratio in (2, 4, 8):
        reduced = lambda: resize_to_square(tf.io.decode_jpeg(data, channels=3, ratio=ratio), 224, 256)  # noqa: E731
        seconds = median_seconds(reduced, 3)
        difference = np.abs(reduced().numpy() - reference).max()
        print(f"  ratio {ratio}: {seconds * 1000:.0f} ms ({base / seconds:.1f}x faster), "
              f"largest pixel difference {difference:.1f} of 255")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-path", help="an exported model's folder (default: export the tiny preset)")
    parser.add_argument("--model-name", default="tiny")
    parser.add_argument("--burst", type=int, default=32, help="requests sent at once (default 32)")
    parser.add_argument("--concurrent", type=int, default=4, help="--max_concurrent_requests of the server")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as root:
        base_path = args.base_path or tiny_export(root)
        bench_server(base_path, args.model_name, args.burst, args.concurrent)
    bench_depth_scan()
    bench_jpeg_ratio()
    return 0


if __name__ == "__main__":
    sys.exit(main())
