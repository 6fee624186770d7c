"""Loaded by pytest for every path in the repository (tests/ and notebooks/ alike).

The CPU code paths and thread count are pinned here, before anything imports torch, so
that nbval's kernels (which inherit this environment) reproduce the committed notebook
outputs on any x86-64 machine, however pytest is invoked (see ``recsae/cpu_env.py``).
"""

from recsae.course.cpu_env import pin_cpu_env

pin_cpu_env()
