"""The tools that run the course, apart from the course's concepts.

* :mod:`recsae.course.runner`: executes the notebooks with papermill (``make run``,
  ``make notebooks``);
* :mod:`recsae.course.reporting`: records the metrics a notebook prints into
  ``build/metrics.json``;
* :mod:`recsae.course.cpu_env`: pins the CPU code paths before torch starts, so the
  committed outputs repeat bit for bit.
"""
