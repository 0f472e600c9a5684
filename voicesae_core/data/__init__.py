"""Datasets and the paper's published numbers.

* ``manifest``          data manifests (schema: ``manifest_schema.json``): validate, load, write
* ``synthetic``         the embedded default: a synthetic voice-embedding benchmark with planted truth
* ``ground_truth``      that benchmark's planted feature directions and per-row activations
* ``labels``            a binary label task (train/test, positive/negative) from a manifest's column
* ``paper_reference``   the paper's published grids and tables (package data: ``paper_reference/``)
"""
