"""recsae: the 'Deep Autoencoders for movie recommendations' tutorial, as published and corrected.

The modules read like the tutorial's table of contents, in layers. A module imports only
from the layers below it (``tests/test_layers.py`` enforces this with import-linter):

1. **Foundations:** ``constants`` (rating scale, relevance threshold, k, column names),
   ``runtime`` (seeds, the device, threads), ``tuned`` (the per-fold search's committed
   choices and scores: data only).
2. **Data:** ``datasets`` (the dataset table), ``archive`` (zip checks), ``download``
   (fetch, verify, cache),
   ``data`` (typed loaders and the one ratings validator), ``synthetic`` (seeded data of
   MovieLens shapes, for the scale benchmark), ``splits`` (every split).
3. **The article's model:** ``features`` (genre counts, attributes), ``user_matrix`` (the
   user rows), ``model`` (the stacked autoencoder), ``loss`` (the masked loss),
   ``metrics`` (the article's metric and honest ones), ``ranking`` (top-k metrics),
   ``protocol`` (the rating-model contract and how every model is scored).
4. **Training:** ``article`` (the article's loop in plain PyTorch, and its fast twin),
   ``trainconfig`` (the corrected trainer's settings), ``inference`` (predictions and
   top-k lists in user batches, from sparse rows), ``sparse_torch`` (the corrected trainer
   on a CSR in plain torch: any device), ``training`` (the corrected trainer: one plain
   epoch, ``fit``, ``predict``).
5. **Models beyond the article:** ``baselines``, ``autorec`` (I-AutoRec), ``glocal_k``
   (kernelised item autoencoder, GLocal-K style), ``side_autorec`` (I-AutoRec with item
   side features), ``blend``
   (I-AutoRec + MF), ``user_autoencoder``, ``checkpoint``.
6. **Studies:** ``experiments`` (the article's table), ``ablation`` (what each bug costs),
   ``crossval``, ``coldstart``, ``recommend``; above them ``search_members`` (the search's
   members: built, fitted, cached) and ``search`` (per-fold tuning of the tunable models
   and blends, ``python -m recsae.search``).
7. **Figures:** ``plots``, the last layer: nothing else draws.

Beside the layers: ``recsae._fast``, the speed engine (numba kernels, the sparse trainer,
flat optimizers, the fast as-published loop). Only the trainers' dispatch imports it, and
each of its functions names the plain function it equals. ``recsae.course`` holds the
tools that run the course (the notebook runner, metric recording, CPU pinning).
"""

__version__ = "0.1.0"
