"""Named random streams: one seed fixes every number, each experiment gets its own stream."""

from __future__ import annotations

import zlib

import numpy as np


def substream(seed: int, name: str, *extra: int) -> np.random.Generator:
    """Generator that depends only on ``seed``, the experiment ``name`` and ``extra`` ints.

    Independent of the order in which experiments run, so any one of them can be rerun
    alone and give the same numbers.
    """
    return np.random.default_rng([int(seed), zlib.crc32(name.encode()), *map(int, extra)])
