"""voicesae_core: sparse autoencoders on speaker embeddings, after Pluth, Zhou & Gurbani (2025),
"Sparse Autoencoder Insights on Voice Embeddings" (arXiv 2502.00127).

Subpackages are the layers; imports run one way, report -> analysis, audio, formats -> sae, data ->
the top-level utilities (a test checks it):

* ``sae``       the model and its training: config, model, loss, kernels, trainer, metrics, geometric_median
* ``data``      datasets: manifest (+ its JSON schema), synthetic, ground_truth, labels, paper_reference
* ``analysis``  the paper's analyses and ours: probe, steering, splitting, bootstrap, recovery, stability,
                sparse_probing, verification, catalogue
* ``formats``   SAEs in other libraries' formats: saelens, sparsify (both ways), dictionary_learning (read)
* ``audio``     from recordings to embeddings: nemo_manifest, clip, segments, speaker_model, extract, demo_corpus
* ``report``    the study file, the notebooks and the book: study, plots, pipeline, book
* ``errors``, ``files``, ``arrays``, ``version``: one error type, atomic writes, array checks, the version

The public API is re-exported here.
"""
from .data.manifest import Dataset, load, write_manifest
from .errors import VoicesaeError
from .sae.config import SAEConfig, TrainConfig, expand_grid
from .sae.metrics import Metrics, evaluate
from .sae.model import SAEOutput, SparseAutoencoder
from .sae.trainer import GridResult, train_grid, train_sae
from .version import __version__

__all__ = ["SAEConfig", "TrainConfig", "expand_grid", "VoicesaeError", "Dataset", "load", "write_manifest",
           "Metrics", "evaluate", "SAEOutput",
           "SparseAutoencoder", "GridResult", "train_grid", "train_sae", "__version__"]
