"""voicesae_core: sparse autoencoders on speaker embeddings, after Pluth, Zhou & Gurbani (2025),
"Sparse Autoencoder Insights on Voice Embeddings" (arXiv 2502.00127).

Modules, one concept each:

* ``config``            SAEConfig (one SAE) and TrainConfig (how a grid is trained); ``expand_grid``
* ``sae``               the SparseAutoencoder model (TopK / BatchTopK / ReLU), save and load
* ``loss``              the training objective (MSE + AuxK, or + L1), written densely
* ``kernels``           the sparse TopK forward/backward used by the trainer
* ``trainer``           ``train_grid``: a whole grid in one pass of the data, checkpointed
* ``metrics``           FVU, normalised MSE, L0, dead latents, density, cosine
* ``geometric_median``  b_pre's initialisation
* ``manifest``          data manifests: validate, load (``load``), write (``write_manifest``)
* ``synthetic``         the embedded default: a synthetic voice-embedding benchmark with planted truth
* ``ground_truth``      that benchmark's planted feature directions and per-row activations
* ``labels``            a binary label task (train/test, positive/negative) from a manifest's column
* ``probe``             feature identification: the latent phi for a label, scored alone (Figs. 2-3)
* ``steering``          Eqs. 1-3: switch phi off/on, relative similarity delta_s (Tables III-IV)
* ``splitting``         follow a label's latents across latent sizes: flows and splits (Fig. 4)
* ``paper_reference``   the paper's published grids and tables, to show beside ours
* ``bootstrap``         bootstrap intervals of a predictor's precision, recall and F1
* ``recovery``          beyond the paper: decoder directions vs the planted features (synthetic default)
* ``stability``         beyond the paper: latents shared across seeds; a label's latent followed across seeds
* ``sparse_probing``    beyond the paper: a probe on the top-k latents vs PCA and the raw embedding
* ``catalogue``         beyond the paper: one row per latent (firing, best label, nearest feature, lineage)
* ``verification``      beyond the paper: speaker-verification trials, EER, minDCF, d'; steering's cost to them
* ``nemo_manifest``     NeMo-style audio manifests (JSON lines): read with row/field errors, write
* ``audio``             one clip for a speaker model: mono, resampled, bad audio named by reason
* ``segments``          the paper's 4-8 s non-silent segments (SoX's silence rule or silero-vad)
* ``speaker_model``     NeMo TitaNet (.nemo, pretrained name, or config with random weights), resemblyzer
* ``extract``           a NeMo manifest -> embeddings + metadata + data manifest; resumable, nothing lost
* ``demo_corpus``       an offline audio corpus: espeak-ng speakers (en/es), hold music, telephony
* ``plots``             the notebooks' figures (needs the ``book`` extra: matplotlib, seaborn, plotly)
* ``pipeline``          run the notebooks in order: jupytext -> papermill, shared parameters
* ``book``              build the Jupyter Book: data -> notebooks (skipped when unchanged) -> HTML
"""
__version__ = "0.1.0"

from .config import SAEConfig, TrainConfig, expand_grid  # noqa: E402
from .errors import VoicesaeError  # noqa: E402
from .manifest import Dataset, load, write_manifest  # noqa: E402
from .metrics import Metrics, evaluate  # noqa: E402
from .sae import SAEOutput, SparseAutoencoder  # noqa: E402
from .trainer import GridResult, train_grid, train_sae  # noqa: E402

__all__ = ["SAEConfig", "TrainConfig", "expand_grid", "VoicesaeError", "Dataset", "load", "write_manifest",
           "Metrics", "evaluate", "SAEOutput",
           "SparseAutoencoder", "GridResult", "train_grid", "train_sae", "__version__"]
