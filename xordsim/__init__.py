"""xordsim: a fast, exact simulator of Brutzkus & Globerson (ICML 2019).

Layers, lowest first: ``patterns``/``data`` -> ``model`` -> ``engine`` ->
experiments (``diagnostics``, ``mnist``) -> ``cli``.
"""

__version__ = "0.1.0"
