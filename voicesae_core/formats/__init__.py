"""SAEs in other libraries' formats: ours exported, theirs imported, with the mapping exact or refused.

* ``saelens``              SAELens 6 (``cfg.json`` + ``sae_weights.safetensors``): topk, standard, jumprelu; both ways
* ``sparsify``             EleutherAI's sparsify (``cfg.json`` + ``sae.safetensors``): topk; both ways
* ``dictionary_learning``  dictionary_learning's ``ae.pt`` + ``config.json`` (AudioSAE's format); import only
* ``folder``               what they share: finding a folder's format, building our model, writing a folder whole

Our SAE is v = ReLU(TopK(W_enc (x - b_pre) + b_lat)), x_hat = W_dec^T v + b_pre, with the input
scale already folded into the biases (``SparseAutoencoder.fold_input_scale``). A format whose model
computes the same function maps exactly (weights transposed or renamed, a bias folded); one whose
model computes something ours cannot (a JumpReLU threshold per latent, a skip connection, a
run-time input normalisation) is refused with the reason, never approximated.
"""
from .folder import FORMATS, detect, export_sae, import_sae, read_sae

__all__ = ["FORMATS", "detect", "export_sae", "import_sae", "read_sae"]
