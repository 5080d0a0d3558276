"""MNIST experiments of Section 7 (Figure 4): clustering and exploration, NumPy only.

Modules, lowest layer first: ``idx``/``data``/``fetch`` (datasets) -> ``layers``
-> ``net`` -> ``optim``/``train`` -> ``cluster`` -> ``experiments`` ->
``figures``; ``config`` (every setting, declared once; no NumPy) sits below them all.
The commands are in ``xordsim.cli`` (``mnist train|cluster|compress``, ``data fetch``).
Settings and their rationale are in ``docs/mnist.md``.
"""
