"""SAEs from elsewhere, for the tests: a tolerance check, and a small grid trained in SAELens's,
sparsify's and dictionary_learning's own classes (what a user brings to a study's ``models``)."""
import json
import sys
import types
from pathlib import Path

import torch

# dictionary_learning's package __init__ imports nnsight for its language-model activation buffer,
# which its SAE classes never touch; nnsight 0.3 needs torchvision, which breaks beside the CPU
# torch wheel (see the Makefile). An empty stand-in lets its real SAE classes import.
sys.modules.setdefault("nnsight", types.SimpleNamespace(LanguageModel=object))


def close(a, b, tol=1e-5):
    """The largest difference between a and b, asserted within ``tol`` of b's scale (max |b|, at
    least 1): float32 sums in another order differ by about 1e-7 of the values they add."""
    a, b = a.detach(), b.detach()
    diff = float((a - b).abs().max())
    assert diff <= tol * max(1.0, float(b.abs().max())), (diff, float(b.abs().max()))
    return diff


def _fit(module, reconstruct, x, steps, batch=1024, lr=1e-3):
    """Their SAE trained the plainest way: Adam on the mean squared error of its own forward pass."""
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    for _ in range(steps):
        xb = x[torch.randint(0, len(x), (batch,), generator=g)]
        loss = (reconstruct(xb) - xb).pow(2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def foreign_grid(x, out: Path, steps: int = 300) -> dict[tuple[int, int], Path]:
    """A 2 x 2 grid (latent 100, 200 x K 5, 20) on ``x`` (n, d), one library's class per cell, each
    saved by its own library's code: {(latent_dim, k): folder}."""
    from dictionary_learning.trainers.top_k import AutoEncoderTopK
    from sae_lens.saes.topk_sae import TopKSAE, TopKSAEConfig
    from sparsify import SparseCoder, SparseCoderConfig

    x = torch.as_tensor(x, dtype=torch.float32)
    torch.manual_seed(0)
    made = {}
    for latent, k in ((100, 5), (200, 20)):
        sae = TopKSAE(TopKSAEConfig(d_in=x.shape[1], d_sae=latent, k=k))
        with torch.no_grad():
            sae.b_dec.copy_(x.mean(0))
        _fit(sae, lambda xb: sae.decode(sae.encode(xb)), x, steps)
        made[(latent, k)] = out / f"saelens_L{latent}_k{k}"
        sae.save_model(made[(latent, k)])
    coder = SparseCoder(x.shape[1], SparseCoderConfig(num_latents=100, k=20))
    with torch.no_grad():
        coder.b_dec.copy_(x.mean(0))
    _fit(coder, lambda xb: coder.decode(*coder.encode(xb)[:2]), x, steps)
    made[(100, 20)] = out / "sparsify_L100_k20"
    coder.save_to_disk(made[(100, 20)])
    ae = AutoEncoderTopK(x.shape[1], 200, 5)
    with torch.no_grad():
        ae.b_dec.copy_(x.mean(0))
    _fit(ae, lambda xb: ae.decode(ae.encode(xb)), x, steps)
    made[(200, 5)] = folder = out / "dictionary_learning_L200_k5"
    folder.mkdir(parents=True)
    torch.save(dict(ae.state_dict()), folder / "ae.pt")  # as dictionary_learning's training loop saves
    (folder / "config.json").write_text(json.dumps({"trainer": {"dict_class": "AutoEncoderTopK", "k": 5}}))
    return made
