"""The training objective, written densely with autograd: the readable specification.

    loss = mean_i ||x_i - x_hat_i||^2                     reconstruction (all activations)
         + aux_coef * AuxK                                TopK / BatchTopK, when latents are dead
         + l1_coef * mean_i sum_l v_il ||W_dec[l]||       ReLU only

AuxK (Gao et al. 2024, "Scaling and evaluating sparse autoencoders", Sec. 2.4): the dead
latents' top ``k_aux`` pre-activations (ReLU'd) reconstruct the residual e = x - x_hat
(detached), normalised like OpenAI's ``normalized_mse``: sum_i ||e_hat_i - e_i||^2 divided by
sum_i ||e_i - mean(e)||^2. It gives dead latents a gradient so they come back.

``trainer.py`` computes the same gradients sparsely; ``tests/test_trainer.py`` checks that.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .model import SparseAutoencoder


class LossOutput(NamedTuple):
    loss: torch.Tensor
    """The total to minimise."""
    mse: torch.Tensor
    """mean_i ||x_i - x_hat_i||^2."""
    aux: torch.Tensor
    """aux_coef * the normalised AuxK loss (0 when no latent is dead)."""
    l1: torch.Tensor
    """l1_coef * the L1 penalty (0 unless activation is relu)."""
    x_hat: torch.Tensor
    """The reconstruction."""
    v: torch.Tensor
    """The latents."""


def sae_loss(sae: SparseAutoencoder, x: torch.Tensor, dead: torch.Tensor | None = None) -> LossOutput:
    """The loss of ``sae`` on batch ``x``; ``dead`` is a bool mask of dead latents (for AuxK)."""
    cfg = sae.cfg
    out = sae(x)
    mse = (out.x_hat - x).pow(2).sum(1).mean()
    zero = mse.new_zeros(())
    l1 = zero
    if cfg.activation == "relu":
        l1 = cfg.l1_coef * (out.v * sae.W_dec.norm(dim=1)).sum(1).mean()
    aux = zero
    if cfg.activation != "relu" and cfg.aux_coef > 0 and dead is not None and bool(dead.any()):
        k_aux = min(cfg.k_aux or x.shape[1] // 2, int(dead.sum()))
        masked = torch.where(dead, out.v_pre, torch.full_like(out.v_pre, -torch.inf))
        vals, idx = torch.topk(masked, k_aux, dim=-1)
        v_aux = torch.zeros_like(out.v_pre).scatter(1, idx, torch.relu(vals))
        e = (x - out.x_hat).detach()
        e_hat = v_aux @ sae.W_dec
        denom = (e - e.mean(0)).pow(2).sum()
        if denom > 0:
            aux = cfg.aux_coef * (e_hat - e).pow(2).sum() / denom
    return LossOutput(mse + aux + l1, mse, aux, l1, out.x_hat, out.v)
