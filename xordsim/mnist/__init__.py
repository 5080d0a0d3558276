"""MNIST experiments of Section 7 (Figure 4): clustering and exploration, NumPy only.

Modules, lowest layer first: ``idx``/``data``/``fetch`` (datasets) -> ``layers``
-> ``net`` (the conv net of Sec. 7) and ``fc`` (the two-layer fully connected net of the
related papers) -> ``optim``/``train`` -> ``cluster`` -> ``experiments`` ->
``figures``; the related papers' experiments: ``capacity`` (Neyshabur et al.'s capacity
against width, figure ``capacity-width``), ``random_labels`` (Arora et al.'s complexity and
loss curves under label noise, figure ``random-labels``), ``ntk`` -> ``lazy`` (the conv net's
empirical NTK and lazy training, figure ``mnist-lazy``); ``config`` (every setting, declared
once; no NumPy) sits below them all.
The commands are in ``xordsim.cli`` (``mnist train|cluster|compress``, ``data fetch``).
Settings and their rationale are in ``docs/mnist.md``.
"""
