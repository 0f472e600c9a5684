"""dictionary_learning's ae.pt + config.json, read, checked against the real dictionary_learning
classes (the PyPI release 0.1.0; see the Makefile for why it is installed without its dependencies)."""
import json

import pytest
import torch

from foreign_saes import close  # first: it stands in for nnsight, which dictionary_learning imports
from dictionary_learning.dictionary import AutoEncoder
from dictionary_learning.trainers.batch_top_k import BatchTopKSAE
from dictionary_learning.trainers.top_k import AutoEncoderTopK
from voicesae_core import VoicesaeError
from voicesae_core.formats import read_sae


def save(ae, folder, dict_class, **trainer):
    """As dictionary_learning's training loop saves: the state dict (torch.save) and config.json."""
    folder.mkdir()
    torch.save({k: v.cpu() for k, v in ae.state_dict().items()}, folder / "ae.pt")
    (folder / "config.json").write_text(json.dumps({"trainer": {"dict_class": dict_class, **trainer},
                                                    "buffer": {"d_submodule": 24}}))
    return folder


def randomised(ae, seed=9):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in ae.named_parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.2)
    return ae


@pytest.mark.parametrize("cls, activation", [(AutoEncoderTopK, "topk"), (BatchTopKSAE, "batchtopk")])
def test_topk_and_batchtopk_checkpoints_import_and_compute_the_same(trained, tmp_path, cls, activation):
    _, x = trained
    ae = randomised(cls(24, 40, 5))
    if cls is BatchTopKSAE:
        ae.threshold.fill_(0.25)  # what its training sets; -1 until then
    folder = save(ae, tmp_path / "ae", cls.__name__, k=5)
    ours = read_sae(folder)
    assert (ours.cfg.activation, ours.cfg.latent_dim, ours.cfg.k, ours.cfg.d_in) == (activation, 40, 5, 24)
    with torch.no_grad():
        theirs = ae.encode(x)
        out = ours(x)
        close(out.v, theirs)
        close(out.x_hat, ae.decode(theirs))
        assert int((theirs > 0).sum()) > 0


def test_the_standard_relu_autoencoder_imports_as_relu(trained, tmp_path):
    _, x = trained
    ae = randomised(AutoEncoder(24, 40))
    ours = read_sae(save(ae, tmp_path / "ae", "AutoEncoder"))
    assert ours.cfg.activation == "relu"
    with torch.no_grad():
        close(ours(x).v, ae.encode(x))
        close(ours(x).x_hat, ae(x))


def test_unknown_classes_pickles_and_mismatches_are_refused(tmp_path):
    ae = AutoEncoderTopK(24, 40, 5)
    with pytest.raises(VoicesaeError, match="'trainer.dict_class' is 'GatedAutoEncoder'"):
        read_sae(save(ae, tmp_path / "gated", "GatedAutoEncoder"))
    with pytest.raises(VoicesaeError, match="trainer.k is 7, ae.pt holds k = 5"):
        read_sae(save(ae, tmp_path / "k", "AutoEncoderTopK", k=7))
    folder = save(ae, tmp_path / "pickled", "AutoEncoderTopK")
    torch.save(ae, folder / "ae.pt")  # a whole pickled module: code, which weights_only refuses to run
    with pytest.raises(VoicesaeError, match="ae.pt: not a readable tensors-only checkpoint"):
        read_sae(folder)
    (folder / "config.json").unlink()
    with pytest.raises(VoicesaeError, match="config.json: missing"):
        read_sae(folder)
