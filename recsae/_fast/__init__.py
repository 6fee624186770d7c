"""The speed engine: the same computations as the readable reference, made fast.

Nothing outside the trainers' dispatch (:func:`recsae.training.fit`,
:func:`recsae.article.train_as_published`) imports this package, and every function here
names the plain function it equals; a test proves each equality:

* :func:`as_published.train` equals :func:`recsae.article.article_loop`, bit for bit
  (``tests/test_article.py``);
* :class:`sparse_trainer.SparseTrainer` equals :class:`recsae.training.DenseTrainer`, i.e.
  :func:`recsae.training.train_epoch`, to float rounding (``tests/test_sparse.py``);
* :meth:`sparse.FlatNet.minibatch_gradients` equals autograd through the model and
  :func:`recsae.loss.masked_sse` (``tests/test_sparse.py``);
* :class:`lazy_adam.LazyAdam` (``optimizer="sparse_adam"``) equals ``torch.optim.SparseAdam``
  + ``Adam`` as :class:`recsae.sparse_torch.SparseTorchTrainer` runs them
  (``tests/test_lazy_adam.py``); its gradients come from
  :class:`grouped.ColumnGrouper`, which equals :meth:`sparse.FlatNet.minibatch_gradients`
  to float rounding with the minibatch's entries sorted by column, and its
  ``outputs_at`` equals :meth:`sparse.FlatNet.outputs_at` (``tests/test_grouped.py``);
  :class:`rows.SparseRows` is the same from a dense matrix
  or its CSR (``tests/test_sparse_input.py``);
* :class:`flat_optim.FlatOptimizer` equals ``torch.optim``'s Adam, AdamW, RMSprop and SGD
  (``tests/test_flat_optim.py``);
* :mod:`kernels` equal torch's element-wise CPU kernels (``tests/test_article.py``).

Importing a module here imports numba (kernels compile once, then load from the on-disk
cache), which is why the dispatchers import it only when a CPU trainer runs.
"""
