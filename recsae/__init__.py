"""recsae: the 'Deep Autoencoders for movie recommendations' tutorial, as published and corrected.

Modules, one concern each: ``download`` (fetch/verify/cache), ``data`` (typed loaders),
``features`` (user matrices), ``models``, ``training``, ``metrics``, ``plots``, ``reporting``,
``runner`` (papermill execution of the notebooks).
"""

__version__ = "0.1.0"
