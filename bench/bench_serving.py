"""Serving overhead: REST and gRPC through the model server against a bare in-process call.

    python bench/bench_serving.py                  # tiny preset, random weights
    python bench/bench_serving.py --preset zfnet   # the paper's network (slower to export)
    python bench/bench_serving.py --base-path saved_models/zfnet --model-name zfnet

For `serving_default` and `project_layer5` at batch 1 and 8 it prints p50/p99 latency of
`loaded.signatures[...]` called in this process, and of the same SavedModel served by
`python -m zfnet_tf.serving` in a child process, over gRPC (`tensorflow-serving-api` stub) and
REST (the project's `ServingClient`, JSON encoded and decoded on every call), with the overhead ratios
(target: gRPC p50 <= 1.1x the bare call at batch 8), then the throughput of 8 concurrent
clients. Client and server share the machine's cores: on a small or busy machine the
ratios include that contention.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The test and bench tooling (ServerProcess, HeadlessChromium) lives in tests/support, outside
# the installed package.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

import numpy as np  # noqa: E402

SIGNATURES = ("serving_default", "project_layer5")
BATCHES = (1, 8)
GRPC_TARGET = 1.1


def percentiles(seconds: list[float]) -> tuple[float, float]:
    values = np.array(seconds) * 1000.0
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def time_calls(call, iterations: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def throughput(call, clients: int, duration: float) -> float:
    """Requests per second completed by `clients` threads calling `call` for `duration` s."""
    deadline = time.perf_counter() + duration

    def worker():
        count = 0
        while time.perf_counter() < deadline:
            call()
            count += 1
        return count

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(lambda _: worker(), range(clients)))
    return total / (time.perf_counter() - start)


def inputs_for(signature: str, batch: int, size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch)
    inputs = {"images": rng.uniform(0, 255, (batch, size, size, 3)).astype(np.float32)}
    if signature.startswith("project_layer"):
        inputs["feature"] = np.full((batch,), -1, np.int32)
    return inputs


def export_preset(preset: str, folder: str, seed: int) -> str:
    import keras

    import zfnet_tf
    from zfnet_tf.export import export_model

    keras.utils.set_random_seed(seed)
    model = zfnet_tf.build_model(preset)
    base_path = os.path.join(folder, preset)
    print(f"exporting a random-weight {preset} to {base_path} ...", flush=True)
    export_model(model, base_path)
    return base_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny", help="preset to export with random weights (default tiny)")
    parser.add_argument("--base-path", help="serve this existing model folder instead of exporting a preset")
    parser.add_argument("--model-name", default="bench")
    parser.add_argument("--iterations", type=int, default=0, help="timed calls per case (default: 100 tiny, 20 otherwise)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for throughput")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per throughput run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    iterations = args.iterations or (100 if args.preset == "tiny" and not args.base_path else 20)

    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from zfnet_tf.export import list_versions
    from zfnet_tf.serving.client import ServingClient
    from support.servers import ServerProcess

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        base_path = args.base_path or export_preset(args.preset, scratch, args.seed)
        versions = list_versions(base_path)
        if not versions:
            print(f"error: no versions under {base_path}", file=sys.stderr)
            return 2
        version_path = os.path.join(base_path, str(versions[-1]))
        loaded = tf.saved_model.load(version_path)
        size = int(loaded.signatures["serving_default"].structured_input_signature[1]["images"].shape[1])
        print(f"model {version_path}: input {size}x{size}; {os.cpu_count()} CPU cores shared by client and server")
        # As the server does after loading: keep the full collections that decoding large
        # JSON answers triggers from walking TensorFlow's objects (100 ms stalls otherwise).
        gc.collect()
        gc.freeze()

        server = ServerProcess(
            [f"--model_name={args.model_name}", f"--model_base_path={base_path}",
             "--file_system_poll_wait_seconds=0", "--max_batch_size=64"],
            ready_model=args.model_name,
        )
        server.start()
        try:
            channel = grpc.insecure_channel(
                server.grpc_address,
                options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
            )
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            # REST through the project's client: NumPy to JSON and back on every call.
            rest_client = ServingClient(server.rest_address, args.model_name, "rest", timeout=300)

            def callers(signature, inputs):
                function = loaded.signatures[signature]
                tensors = {k: tf.constant(v) for k, v in inputs.items()}

                def bare():
                    return {k: v.numpy() for k, v in function(**tensors).items()}

                request = predict_pb2.PredictRequest()
                request.model_spec.name = args.model_name
                request.model_spec.signature_name = signature
                for name, value in inputs.items():
                    request.inputs[name].CopyFrom(tf.make_tensor_proto(value))

                def over_grpc():
                    response = stub.Predict(request, timeout=300)
                    return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

                def over_rest():
                    return rest_client.predict(inputs, signature)

                return bare, over_grpc, over_rest

            print(f"\nlatency in ms, {iterations} calls each (p50 / p99; ratio = p50 / bare p50)")
            print(f"{'signature':<16} {'batch':>5}  {'bare':>15}  {'gRPC':>24}  {'REST':>24}")
            grpc_ratios = {}
            for signature in SIGNATURES:
                for batch in BATCHES:
                    bare, over_grpc, over_rest = callers(signature, inputs_for(signature, batch, size))
                    rows = {}
                    for name, call in (("bare", bare), ("grpc", over_grpc), ("rest", over_rest)):
                        rows[name] = percentiles(time_calls(call, iterations))
                    base = rows["bare"][0]
                    grpc_ratios[(signature, batch)] = rows["grpc"][0] / base
                    print(
                        f"{signature:<16} {batch:>5}  {rows['bare'][0]:7.2f} / {rows['bare'][1]:6.2f}"
                        f"  {rows['grpc'][0]:7.2f} / {rows['grpc'][1]:6.2f} ({rows['grpc'][0] / base:4.2f}x)"
                        f"  {rows['rest'][0]:7.2f} / {rows['rest'][1]:6.2f} ({rows['rest'][0] / base:4.2f}x)",
                        flush=True,
                    )

            print(f"\ngRPC p50 overhead at batch 8 (target <= {GRPC_TARGET}x):")
            for signature in SIGNATURES:
                ratio = grpc_ratios[(signature, 8)]
                verdict = "met" if ratio <= GRPC_TARGET else "NOT met"
                print(f"  {signature:<16} {ratio:4.2f}x  {verdict}")

            print(f"\nthroughput, batch 8, {args.clients} concurrent clients, {args.duration:g} s each (requests/s)")
            for signature in SIGNATURES:
                bare, over_grpc, over_rest = callers(signature, inputs_for(signature, 8, size))
                rates = {
                    name: throughput(call, args.clients, args.duration)
                    for name, call in (("bare", bare), ("grpc", over_grpc), ("rest", over_rest))
                }
                print(
                    f"  {signature:<16} bare {rates['bare']:7.1f}   gRPC {rates['grpc']:7.1f} "
                    f"({rates['grpc'] / rates['bare']:4.2f}x)   REST {rates['rest']:7.1f} "
                    f"({rates['rest'] / rates['bare']:4.2f}x)",
                    flush=True,
                )
            rest_client.close()
            channel.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
