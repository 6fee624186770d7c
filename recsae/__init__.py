"""recsae: the 'Deep Autoencoders for movie recommendations' tutorial, as published and corrected.

One module per concern:

* data: ``download`` (fetch, verify, cache), ``data`` (typed loaders), ``splits``;
* the article: ``features`` (user matrices, both recipes), ``models``, ``training``
  (as-published and corrected trainers; their CPU fast paths in ``kernels``, ``sparse``
  and ``flat_optim``),
  ``metrics`` (the article's metric and honest ones), ``experiments`` (its table,
  regenerated), ``ablation`` (what each bug costs);
* beyond it: ``recommend``, ``ranking``, ``baselines``, ``autorec`` (item-based autoencoders),
  ``user_autoencoder``, ``evaluation`` (cross-validation), ``coldstart``;
* plumbing: ``runtime`` (seeds, device, threads), ``cpu_env`` (CPU code paths pinned for
  repeatable numbers), ``checkpoint``, ``plots``, ``reporting``,
  ``runner`` (papermill execution of the notebooks).
"""

__version__ = "0.1.0"
