"""The study file, the notebooks and the book (needs the ``book`` extra for plots and the build).

* ``study``     the study file: datasets, features, grid, training, chapter options, device
* ``checked``   dataclasses from plain data (the study's YAML), checked field by field
* ``plots``     the notebooks' figures (matplotlib, seaborn, plotly are imported only here)
* ``pipeline``  run the notebooks in order: jupytext -> papermill, with the study
* ``latent_pages``  the catalogue chapter's per-latent pages, executed from a papermill template
* ``book``      build the Jupyter Book: data -> notebooks (skipped when unchanged) -> HTML
"""
