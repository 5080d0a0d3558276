"""MNIST experiments of Section 7 (Figure 4): clustering and exploration, NumPy only.

Modules, lowest layer first: ``idx``/``data``/``fetch`` (datasets) -> ``layers``
-> ``net`` -> ``optim``/``train`` -> ``cluster`` -> ``experiments`` ->
``figures`` -> ``cli``. Settings and their rationale are in ``docs/mnist.md``.
"""
