import os

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def pytest_xdist_auto_num_workers(config) -> int:
    """Workers for ``-n auto`` (pytest.ini_options): one per core, at most 4 (each worker
    compiles the numba kernels its test files use on a cold cache; more workers would
    mostly compile the same kernels again); 0 (no workers) on one core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    return 0 if cores < 2 else min(cores, 4)
