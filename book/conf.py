"""Sphinx configuration of the tutorial's website (``make book``).

The sources are not here: ``book/build.py`` assembles them in ``build/book-work/src/`` (the
committed notebooks, the generated landing page, the README's errata, docs/benchmarks.md)
and runs Sphinx on them with this folder as configuration folder. Nothing is executed:
the notebooks are rendered with the outputs they were committed with.
"""

project = "recsae"
author = "the recsae authors"
copyright = "the recsae authors; MovieLens data: GroupLens (not redistributed)"
html_title = "recsae tutorial"
html_short_title = "recsae"

extensions = [
    "myst_nb",  # .md and .ipynb pages (MyST Markdown), notebooks rendered from their outputs
    "sphinx.ext.mathjax",
    # MathJax 3 from the installed package, copied into _static/mathjax: no CDN, works offline.
    "sphinx-mathjax-offline",
]

root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
language = "en"

# Render the committed outputs; never start a kernel.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "sphinx_book_theme"
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "show_toc_level": 2,
    # previous/next links at the foot of every page
    "show_prev_next": True,
    # no header bar above the page: the sidebar has the search field
    "navbar_persistent": [],
}
# Light unless the reader picks dark (the figures have white backgrounds). Left unset,
# pydata-sphinx-theme (under sphinx-book-theme) logs an error in the browser's console.
html_context = {"default_mode": "light"}
html_favicon = "_static/favicon.svg"
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_last_updated_fmt = None
html_show_sphinx = False
html_copy_source = True
