"""Speaker-embedding models behind one small interface: ``embed(signals) -> (n, dim)``.

``load(source)`` accepts

* a ``.nemo`` file: NeMo's ``EncDecSpeakerLabelModel`` restored from it (the paper's case, a
  TitaNet fine-tuned on telephony);
* a NeMo pretrained name (``titanet_large``, ``titanet_small``, ``ecapa_tdnn``, ...): fetched by
  NeMo when the machine is online; offline, a clear error says so (nothing else downloads);
* ``random:titanet-small`` / ``random:titanet-large``: TitaNet built from its configuration with
  random weights (seeded), for offline tests and demos -- such embeddings carry no trained meaning;
* ``resemblyzer``: the GE2E encoder whose pretrained weights ship inside the ``resemblyzer`` wheel
  (256-d, L2-normalised by the model), for a pretrained model offline.

TitaNet batches (on a GPU; a CPU embeds one clip at a time) are zero-padded with their true
lengths passed on: NeMo's masked convolutions, squeeze-excite and attentive pooling then ignore
the padding, so a clip's embedding does not depend on its batch (NeMo's own collate instead
repeats a short clip to the longest, which does).
The preprocessor's dither is set to 0 and the model put in eval mode.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import VoicesaeError
from ..files import sha256_file

TITANET_FILTERS = {"titanet-small": 256, "titanet-large": 1024}
"""Channels of TitaNet's mega-blocks (NeMo's titanet-small.yaml / titanet-large.yaml)."""


def titanet_config(size: str = "titanet-small", emb_dim: int = 192, num_classes: int = 2,
                   sample_rate: int = 16000) -> dict:
    """TitaNet's architecture as NeMo's EncDecSpeakerLabelModel config: 80 mel features, a prolog,
    three mega-blocks of 3 separable SE sub-blocks (kernels 7, 11, 15), an epilog of 3072 channels,
    attentive statistics pooling and a ``emb_dim`` embedding layer."""
    if size not in TITANET_FILTERS:
        raise VoicesaeError(f"unknown TitaNet size {size!r} (expected one of {sorted(TITANET_FILTERS)})")
    filters = TITANET_FILTERS[size]

    def block(channels, repeat, kernel, dropout, residual):
        return {"filters": channels, "repeat": repeat, "kernel": [kernel], "stride": [1], "dilation": [1],
                "dropout": dropout, "residual": residual, "separable": True, "se": True, "se_context_size": -1}

    return {
        "sample_rate": sample_rate,
        "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                         "normalize": "per_feature", "window_size": 0.025, "window_stride": 0.01,
                         "sample_rate": sample_rate, "window": "hann", "features": 80, "n_fft": 512,
                         "frame_splicing": 1, "dither": 0.0},
        "encoder": {"_target_": "nemo.collections.asr.modules.ConvASREncoder", "feat_in": 80,
                    "activation": "relu", "conv_mask": True,
                    "jasper": [block(filters, 1, 3, 0.0, False), block(filters, 3, 7, 0.1, True),
                               block(filters, 3, 11, 0.1, True), block(filters, 3, 15, 0.1, True),
                               block(3072, 1, 1, 0.0, False)]},
        "decoder": {"_target_": "nemo.collections.asr.modules.SpeakerDecoder", "feat_in": 3072,
                    "num_classes": num_classes, "pool_mode": "attention", "emb_sizes": emb_dim},
    }


@dataclass
class SpeakerModel:
    """A loaded speaker model. ``embed`` takes mono float32 clips at ``sample_rate``."""

    source: str
    backend: str
    """'nemo' or 'resemblyzer'."""
    dim: int
    sample_rate: int
    model: object = field(repr=False)
    provenance: dict = field(default_factory=dict)
    """What identifies the embeddings: source, weights hash, NeMo version, dither, batching."""

    @property
    def device(self):
        """The torch device the model runs on."""
        return next(self.model.parameters()).device

    def embed(self, signals: list[np.ndarray], batched: bool | None = None) -> np.ndarray:
        """(len(signals), dim) float32; a clip's row does not depend on the others in the call.

        ``batched`` (TitaNet): one forward pass for all the clips, zero-padded and masked, or one
        per clip; by default batched on a GPU and one at a time on a CPU, where a batch buys no
        parallelism and pads every clip to the longest (``bench/embed.py``: about 1.8 x faster)."""
        if not signals:
            return np.zeros((0, self.dim), np.float32)
        if self.backend == "resemblyzer":
            return np.stack([self.model.embed_utterance(s) for s in signals]).astype(np.float32)
        import torch

        device = next(self.model.parameters()).device
        if len(signals) > 1 and not (device.type != "cpu" if batched is None else batched):
            return np.concatenate([self.embed([s], batched=True) for s in signals])
        lengths = torch.tensor([len(s) for s in signals])
        batch = torch.zeros(len(signals), int(lengths.max()))
        for i, s in enumerate(signals):
            batch[i, : len(s)] = torch.from_numpy(s)
        with torch.inference_mode():
            _, emb = self.model.forward(input_signal=batch.to(device), input_signal_length=lengths.to(device))
        return emb.float().cpu().numpy()


def _quiet_nemo():
    """NeMo logs warnings about training data on every restore; keep errors only."""
    from nemo.utils import logging as nemo_logging
    nemo_logging.setLevel(nemo_logging.ERROR)


def _prepare(model, source: str, device: str, provenance: dict) -> SpeakerModel:
    import nemo

    model.eval()
    model.preprocessor.featurizer.dither = 0.0  # NeMo adds dither only in training; make it 0 anyway
    model.to(device)
    cfg = model.cfg
    dim = int(cfg.decoder.emb_sizes if isinstance(cfg.decoder.emb_sizes, int) else list(cfg.decoder.emb_sizes)[-1])
    sample_rate = int(cfg.get("sample_rate", cfg.preprocessor.get("sample_rate", 16000)))
    provenance = {"model": source, "backend": "nemo", "nemo_version": nemo.__version__, "dither": 0.0,
                  "batching": "sorted by duration; zero-padded with true lengths (masked)",
                  "embedding_dim": dim, "sample_rate": sample_rate, **provenance}
    return SpeakerModel(source, "nemo", dim, sample_rate, model, provenance)


def load(source: str, device: str = "cpu", seed: int = 0) -> SpeakerModel:
    """A speaker model from a .nemo file, a NeMo pretrained name, ``random:<titanet size>`` or ``resemblyzer``."""
    if source == "resemblyzer":
        try:
            with warnings.catch_warnings():  # its webrtcvad imports the deprecated pkg_resources
                warnings.simplefilter("ignore", UserWarning)
                from resemblyzer import VoiceEncoder
        except ImportError as e:
            raise VoicesaeError(f"model 'resemblyzer' needs the resemblyzer package ({e}); "
                                "install the audio extra: make test or pip install -e '.[audio]'") from None
        encoder = VoiceEncoder(device=device, verbose=False)
        import resemblyzer
        from importlib.metadata import version
        weights = Path(resemblyzer.__file__).parent / "pretrained.pt"
        prov = {"model": "resemblyzer", "backend": "resemblyzer", "resemblyzer_version": version("resemblyzer"),
                "weights_sha256": sha256_file(weights) if weights.exists() else "",
                "batching": "one clip at a time (embed_utterance)", "embedding_dim": 256, "sample_rate": 16000}
        return SpeakerModel(source, "resemblyzer", 256, 16000, encoder, prov)

    import logging
    # NeMo's telemetry library warns on import that it is off; the line would precede every error.
    logging.getLogger("nv_one_logger").setLevel(logging.ERROR)
    try:
        import torch
        from nemo.collections.asr.models import EncDecSpeakerLabelModel
        from omegaconf import OmegaConf
    except ImportError as e:
        raise VoicesaeError(f"model {source!r} needs NVIDIA NeMo ({e}); install the audio extra: "
                            "make test or pip install -e '.[audio]'") from None
    _quiet_nemo()
    if source.startswith("random:"):
        size = source.split(":", 1)[1]
        if size not in TITANET_FILTERS:  # before NeMo builds anything
            raise VoicesaeError(f"model {source!r}: unknown TitaNet size {size!r} (expected random:"
                                f"{' or random:'.join(sorted(TITANET_FILTERS))})")
        torch.manual_seed(seed)
        model = EncDecSpeakerLabelModel(cfg=OmegaConf.create(titanet_config(size)))
        return _prepare(model, source, device, {"seed": seed, "weights": "random (no trained meaning)"})
    if source.endswith(".nemo"):
        path = Path(source)
        if not path.is_file():
            raise VoicesaeError(f"{path}: .nemo model file not found")
        try:
            model = EncDecSpeakerLabelModel.restore_from(str(path), map_location=torch.device(device))
        except Exception as e:  # NeMo raises many kinds here; say which file failed
            raise VoicesaeError(f"{path}: not a NeMo speaker model ({type(e).__name__}: {e})") from None
        return _prepare(model, str(path), device, {"weights_sha256": sha256_file(path)})
    names = [m.pretrained_model_name for m in EncDecSpeakerLabelModel.list_available_models()]
    if source not in names:
        raise VoicesaeError(f"model {source!r}: not a .nemo file, not 'random:titanet-small|titanet-large' or "
                            f"'resemblyzer', and not a NeMo pretrained name ({', '.join(names)})")
    try:
        model = EncDecSpeakerLabelModel.from_pretrained(source, map_location=torch.device(device))
    except Exception as e:
        raise VoicesaeError(
            f"model {source!r}: NeMo could not fetch the pretrained weights ({e}). This machine may be offline: "
            "download the .nemo elsewhere and pass its path, or use random:titanet-small for a test") from None
    return _prepare(model, source, device, {})


def save(model: SpeakerModel, path: str | Path) -> Path:
    """Save a NeMo model as .nemo, atomically (the file appears only when complete)."""
    from ..files import atomic_path

    if model.backend != "nemo":
        raise VoicesaeError(f"only NeMo models can be saved as .nemo, not {model.backend!r}")
    path = Path(path)
    with atomic_path(path, suffix=".nemo") as tmp:
        model.model.save_to(str(tmp))
    return path
