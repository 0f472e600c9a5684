"""The embedded default: a synthetic voice-embedding benchmark with planted ground truth.

The paper's data (call-centre audio embedded by a telephony TitaNet) are private, so the book
runs on this generative model of 192-d "speaker embeddings". It is written from the paper's
description of its data and from what is known of speaker embeddings, never tuned to make our
figures resemble the paper's. Its use is that the truth is known: which direction means Spanish,
which row carries how much of it.

The model. Every planted feature f has a fixed random unit direction u_f in R^192; there are
more features (243) than dimensions, so they are superposed, as in "toy models of superposition".
An embedding is a sum of feature activations times directions, plus noise, then L2-normalised
like TitaNet's output::

    e_raw = identity(speaker) + sum_f a_f u_f + noise,      e = e_raw / ||e_raw||

* Speaker identity: each speaker has 6 of 224 background traits (``trait_*``, coefficients
  U(0.5, 1.5)) plus a dense idiosyncratic part N(0, 0.6^2 / 192 I). Segments of one speaker
  vary around it by the noise below, which is smaller than the spread between speakers.
* Gender is a continuum, not a switch: a pitch-like coefficient on ``pitch``, N(+1, 0.45^2) for
  female and N(-1, 0.45^2) for male speakers, so the two overlap.
* Spanish: Spanish speakers carry ``spanish`` (U(0.9, 1.3)) and, below it, ``spanish_female``
  or ``spanish_male`` by gender (U(0.5, 0.9)): a hierarchy, so an SAE may split the Spanish
  latent into two as its latent grows, but nothing forces it.
* Confusions the paper reports: 6 % of English speakers are native Spanish speakers whose
  English carries an accent, ``spanish`` at U(0.35, 0.6) (``native_spanish`` = 1); 10 % of
  Spanish segments are code-mixed, their Spanish features scaled by U(0.25, 0.5)
  (``code_mixed`` = 1).
* Hold music: segments with no speaker: ``music`` (U(1.0, 1.4)) plus one of 8 tunes
  (``tune_*``, U(0.6, 1.0)), a codec and noise; no identity, pitch or language.
* Nuisances on every segment: one of 4 codecs (``codec_*``, U(0.4, 0.7)), a noise level
  nu ~ U(0, 1) (0.5 nu on ``noise``), a duration t ~ U(4, 8) s ((t - 6) / 2 * 0.3 on
  ``duration``); the isotropic noise has standard deviation 0.35 sqrt(6 / t) / sqrt(192) per
  dimension (shorter segments are noisier).

Three datasets, as in the paper (Section IV-A), with disjoint speakers:

* ``sae_train``: about 1,100,000 segments of about 29,000 speakers, 88 % of them English,
  and 3 % hold music; unlabelled for training, but its labels are kept as ground truth.
* ``language``: exactly Table I's train/test counts per group (English/Spanish x female/male),
  3 segments per speaker, train and test speakers disjoint.
* ``music``: exactly Table II's counts (music/voice x train/test).

A second speaker model, "model B", embeds the same segments (same ids, same metadata, the same
true feature activations) through a different mixing, so that a universality study (chapter 12)
has a ground truth. It was fixed before any SAE was trained on it and is never tuned to a result:

* 256 dimensions (as resemblyzer's), with its own random unit direction v_f for every feature;
* its own gain per feature, g_f ~ U(0.7, 1.3): another model weighs the same properties differently;
* it does not encode the channel: g_f = 0 for the 4 codecs (as an encoder trained with channel
  augmentation would), so latents of model A for a codec should find no counterpart in model B;
* its own idiosyncratic speaker part N(0, 0.6^2 / 256 I) and its own isotropic noise (same law);
* mixing is linear in both models, as in the "linear representation" view SAEs rest on; two real
  encoders also differ non-linearly, which this does not model.

It is drawn from its own generator, ``PCG64(SeedSequence([seed, 0xB]))``, so model A's bytes do
not depend on it. Its files carry ``.model_b`` in their names and share model A's metadata CSVs.

``scale`` shrinks all counts proportionally (at least 1 per group), for quick runs.
Everything is drawn from ``numpy.random.Generator(PCG64(seed))`` and composed row by row in
float64 (numba, no fast-math reassociation) before the final cast to float32, so the bytes
(and the sha256 in the committed manifests) do not depend on the thread count.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np
import pandas as pd
from safetensors.numpy import save_file
from tqdm import tqdm

from ..errors import VoicesaeError
from ..files import atomic_path
from ..version import __version__

D = 192
N_TRAITS = 224
N_TUNES = 8
N_CODECS = 4
TRAITS_PER_SPEAKER = 6
FEATURES = (["spanish", "spanish_female", "spanish_male", "pitch", "music", "noise", "duration"]
            + [f"codec_{i}" for i in range(N_CODECS)] + [f"tune_{i}" for i in range(N_TUNES)]
            + [f"trait_{i}" for i in range(N_TRAITS)])
F = {name: i for i, name in enumerate(FEATURES)}

TABLE_I = {("train", "en", "female"): 457, ("train", "en", "male"): 166, ("train", "es", "female"): 382,
           ("train", "es", "male"): 166, ("test", "en", "female"): 283, ("test", "en", "male"): 117,
           ("test", "es", "female"): 279, ("test", "es", "male"): 121}
TABLE_II = {("train", 1): 109, ("train", 0): 257, ("test", 1): 200, ("test", 0): 200}
SAE_ROWS, SAE_SPEAKERS = 1_100_000, 29_000
D_B = 256
"""Model B's embedding dimension."""
UNENCODED_B = tuple(f"codec_{i}" for i in range(N_CODECS))
"""The features model B does not encode (gain 0)."""

# The meaning of every metadata column (copied into each manifest).
COLUMNS = {
    "id": "unique segment id",
    "speaker": "speaker id ('' for hold music, which has no speaker)",
    "language": "spoken language: en, es, or none (hold music)",
    "gender": "the speaker's gender: female, male, or none (hold music)",
    "is_music": "1 for a hold-music segment, 0 for speech",
    "split": "train or test",
    "native_spanish": "1 for an English segment by a native Spanish speaker (accent), else 0",
    "code_mixed": "1 for a Spanish segment with English words mixed in (weak Spanish feature), else 0",
    "pitch": "the speaker's pitch-like gender coefficient (continuum; female > 0 > male on average)",
    "codec": "channel codec index 0-3",
    "noise": "noise level in [0, 1]",
    "duration": "segment duration in seconds (4-8)",
}


@dataclass
class Part:
    """One dataset's rows before composition (every array has one entry per row)."""

    speaker: np.ndarray      # int, -1 for music
    language: np.ndarray     # "en" / "es" / "none"
    gender: np.ndarray       # "female" / "male" / "none"
    is_music: np.ndarray     # 0/1
    split: np.ndarray        # "train" / "test"
    native_spanish: np.ndarray
    code_mixed: np.ndarray


def _count(c: int, scale: float) -> int:
    return max(1, int(round(c * scale)))


class _Speakers:
    """Speaker attributes, drawn as speakers are created (ids are global, so sets are disjoint)."""

    def __init__(self, rng):
        self.rng = rng
        self.language, self.gender, self.native, self.pitch, self.traits, self.trait_coef = [], [], [], [], [], []
        self.dense = []

    def new(self, count: int, language=None, gender=None, p_english=0.88, p_female=0.55) -> np.ndarray:
        rng = self.rng
        start = sum(len(v) for v in self.language)
        lang = np.where(rng.random(count) < p_english, "en", "es") if language is None else np.full(count, language)
        gen = np.where(rng.random(count) < p_female, "female", "male") if gender is None else np.full(count, gender)
        native = (lang == "en") & (rng.random(count) < 0.06)
        pitch = np.where(gen == "female", 1.0, -1.0) + 0.45 * rng.standard_normal(count)
        traits = np.argsort(rng.random((count, N_TRAITS)), axis=1)[:, :TRAITS_PER_SPEAKER]
        coef = rng.uniform(0.5, 1.5, (count, TRAITS_PER_SPEAKER))
        dense = rng.standard_normal((count, D)) * (0.6 / np.sqrt(D))
        for lst, v in ((self.language, lang), (self.gender, gen), (self.native, native), (self.pitch, pitch),
                       (self.traits, traits), (self.trait_coef, coef), (self.dense, dense)):
            lst.append(v)
        return np.arange(start, start + count)

    def arrays(self):
        """All speakers' attributes so far: language, gender, native, pitch, traits, trait_coef, dense."""
        return tuple(np.concatenate(v) for v in (self.language, self.gender, self.native, self.pitch, self.traits,
                                                  self.trait_coef, self.dense))


def _segments_of(speakers: np.ndarray, per_speaker: int, total: int) -> np.ndarray:
    """``total`` rows over the speakers, ``per_speaker`` each in turn (the last may get fewer)."""
    return np.repeat(speakers, per_speaker)[:total]


def _plan(scale: float, rng) -> tuple[dict[str, Part], _Speakers]:
    spk = _Speakers(rng)
    parts = {}

    # SAE training set: every speaker at least one segment, the rest assigned at random.
    n_rows, n_spk = _count(SAE_ROWS, scale), _count(SAE_SPEAKERS, scale)
    n_music = int(round(0.03 * n_rows))
    ids = spk.new(n_spk)
    voice = np.concatenate([ids, rng.choice(ids, n_rows - n_music - n_spk)]) if n_rows - n_music > n_spk else ids[: n_rows - n_music]
    voice = np.sort(voice)
    parts["sae_train"] = _part(spk, voice, n_music, "train", rng)

    # Language Feature set (Table I): 3 segments per speaker, train/test speakers disjoint.
    speaker_rows, split_rows = [], []
    for (split, lang, gender), c in TABLE_I.items():
        c = _count(c, scale)
        ids = spk.new(-(-c // 3), language=lang, gender=gender)
        speaker_rows.append(_segments_of(ids, 3, c))
        split_rows.append(np.full(c, split))
    parts["language"] = _part(spk, np.concatenate(speaker_rows), 0, np.concatenate(split_rows), rng)

    # Music Feature set (Table II): voice from new speakers (mostly English), 3 segments each.
    rows, splits = [], []
    for (split, is_music), c in TABLE_II.items():
        c = _count(c, scale)
        if is_music:
            rows.append(np.full(c, -1))
        else:
            rows.append(_segments_of(spk.new(-(-c // 3)), 3, c))
        splits.append(np.full(c, split))
    speakers = np.concatenate(rows)
    parts["music"] = _part(spk, speakers, 0, np.concatenate(splits), rng)
    return parts, spk


def _part(spk: _Speakers, voice_speakers: np.ndarray, n_music: int, split, rng) -> Part:
    """Rows for the given speakers (-1 = hold music) plus ``n_music`` music rows."""
    speaker = np.concatenate([voice_speakers, np.full(n_music, -1)])
    lang, gen, native, *_ = spk.arrays()
    music = speaker < 0
    safe = np.where(music, 0, speaker)
    language = np.where(music, "none", lang[safe])
    gender = np.where(music, "none", gen[safe])
    code_mixed = (language == "es") & (rng.random(len(speaker)) < 0.10)
    split = np.full(len(speaker), split) if isinstance(split, str) else split
    return Part(speaker, language, gender, music.astype(np.int8), split, (native[safe] & ~music).astype(np.int8),
                code_mixed.astype(np.int8))


def _compose(part: Part, spk: _Speakers, directions: np.ndarray, rng, chunk: int = 131072, bar=None):
    """Embeddings (float32, L2-normalised), nuisances and the true activations (CSR) of a part."""
    _, _, _, pitch_all, traits_all, coef_all, dense_all = spk.arrays()
    n = len(part.speaker)
    music = part.is_music.astype(bool)
    safe = np.where(music, 0, part.speaker)
    codec = rng.integers(0, N_CODECS, n)
    noise = rng.random(n)
    duration = rng.uniform(4.0, 8.0, n)
    tune = rng.integers(0, N_TUNES, n)
    spanish = np.zeros(n)
    es = part.language == "es"
    spanish[es] = rng.uniform(0.9, 1.3, es.sum())
    sub = np.zeros(n)
    sub[es] = rng.uniform(0.5, 0.9, es.sum())
    mix = part.code_mixed.astype(bool)
    damp = rng.uniform(0.25, 0.5, n)
    spanish[mix] *= damp[mix]
    sub[mix] *= damp[mix]
    accent = part.native_spanish.astype(bool)
    spanish[accent] = rng.uniform(0.35, 0.6, accent.sum())
    music_coef = rng.uniform(1.0, 1.4, n)
    tune_coef = rng.uniform(0.6, 1.0, n)
    codec_coef = rng.uniform(0.4, 0.7, n)
    pitch = np.where(music, 0.0, pitch_all[safe])

    # The true activation of every feature on every row, as (row, feature, value) triples.
    # Slots: spanish, its sub-feature, pitch, music, tune, codec, noise, duration, the traits.
    feat = np.full((n, 8 + TRAITS_PER_SPEAKER), -1, np.int64)
    val = np.zeros((n, 8 + TRAITS_PER_SPEAKER))
    feat[:, 0], val[:, 0] = F["spanish"], spanish
    feat[:, 1] = np.where(part.gender == "female", F["spanish_female"], F["spanish_male"])
    val[:, 1] = sub
    feat[:, 2], val[:, 2] = F["pitch"], pitch
    feat[:, 3], val[:, 3] = F["music"], np.where(music, music_coef, 0.0)
    feat[:, 4], val[:, 4] = F["tune_0"] + tune, np.where(music, tune_coef, 0.0)
    feat[:, 5], val[:, 5] = F["codec_0"] + codec, codec_coef
    feat[:, 6], val[:, 6] = F["noise"], 0.5 * noise
    feat[:, 7], val[:, 7] = F["duration"], (duration - 6.0) / 2.0 * 0.3
    feat[:, 8:], val[:, 8:] = F["trait_0"] + traits_all[safe], np.where(music[:, None], 0.0, coef_all[safe])

    out = np.empty((n, D), np.float32)
    sigma = 0.35 * np.sqrt(6.0 / duration) / np.sqrt(D)
    identity = np.where(music, -1, safe)
    for s in range(0, n, chunk):
        e = slice(s, min(n, s + chunk))
        noise_draw = rng.standard_normal((e.stop - e.start, D), dtype=np.float32)
        _compose_rows(identity[e], dense_all, feat[e], val[e], directions, sigma[e], noise_draw, out[e])
        if bar is not None:
            bar.update(e.stop - e.start)
    nuisance = {"pitch": pitch, "codec": codec, "noise": noise, "duration": duration}
    return out, nuisance, _truth(feat, val), Planted(identity, feat, val, duration)


class Planted(NamedTuple):
    """What a part's rows are made of, before any model's mixing (one entry per row)."""
    identity: np.ndarray
    """The speaker index whose idiosyncratic part is added (-1: hold music, none)."""
    feat: np.ndarray
    """(rows, slots) planted feature indices."""
    val: np.ndarray
    """(rows, slots) their activations (0: not active)."""
    duration: np.ndarray
    """Segment durations in seconds (the noise's scale)."""


def _truth(feat: np.ndarray, val: np.ndarray) -> dict:
    """The true activations as CSR arrays (indptr, indices, values) over the active slots."""
    active = val != 0.0
    indptr = np.concatenate([[0], np.cumsum(active.sum(1))]).astype(np.int64)
    return {"indptr": indptr, "indices": feat[active].astype(np.int32), "values": val[active].astype(np.float32)}


class ModelB(NamedTuple):
    """Model B's mixing (see the module docstring): directions, gains, speakers' idiosyncratic parts."""
    directions: np.ndarray
    """(features, D_B) unit vectors."""
    gains: np.ndarray
    """(features,) g_f; 0 for the features it does not encode."""
    dense: np.ndarray
    """(speakers, D_B) each speaker's idiosyncratic part in model B."""


def model_b(seed: int, n_speakers: int) -> tuple[ModelB, np.random.Generator]:
    """Model B's mixing for a benchmark of ``seed``, and the generator its noise is then drawn from."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB]))
    directions = rng.standard_normal((len(FEATURES), D_B))
    directions /= np.sqrt((directions * directions).sum(1, keepdims=True))
    gains = rng.uniform(0.7, 1.3, len(FEATURES))
    gains[[F[name] for name in UNENCODED_B]] = 0.0
    dense = rng.standard_normal((n_speakers, D_B)) * (0.6 / np.sqrt(D_B))
    return ModelB(directions, gains, dense), rng


def _compose_b(planted: Planted, b: ModelB, rng, chunk: int = 131072, bar=None):
    """Model B's embeddings (float32, L2-normalised) and true activations of a part composed for model A."""
    n = len(planted.identity)
    val = planted.val * b.gains[planted.feat]
    out = np.empty((n, D_B), np.float32)
    sigma = 0.35 * np.sqrt(6.0 / planted.duration) / np.sqrt(D_B)
    for s in range(0, n, chunk):
        e = slice(s, min(n, s + chunk))
        noise_draw = rng.standard_normal((e.stop - e.start, D_B), dtype=np.float32)
        _compose_rows(planted.identity[e], b.dense, planted.feat[e], val[e], b.directions, sigma[e], noise_draw, out[e])
        if bar is not None:
            bar.update(e.stop - e.start)
    return out, _truth(planted.feat, val)


@numba.njit(parallel=True, cache=True)
def _compose_rows(identity, dense, feat, val, directions, sigma, noise, out):  # pragma: no cover - compiled
    # Row by row, in float64, in a fixed order and without fastmath: the same bytes on any CPU.
    n, d = out.shape
    for i in numba.prange(n):
        x = np.zeros(d)
        if identity[i] >= 0:
            x += dense[identity[i]]
        for slot in range(feat.shape[1]):
            if val[i, slot] != 0.0:
                x += val[i, slot] * directions[feat[i, slot]]
        x += sigma[i] * noise[i].astype(np.float64)
        norm = np.sqrt(np.sum(x * x))
        for t in range(d):
            out[i, t] = x[t] / norm


def generate(out_dir: str | Path, scale: float = 1.0, seed: int = 0, quiet: bool = False) -> dict[str, dict]:
    """Write the three datasets (embeddings .npy, metadata .csv, ground truth .safetensors), each
    embedded by model A and by model B, into ``out_dir`` and return, per dataset and model (keys
    ``sae_train``, ``sae_train.model_b``, ...), the facts a manifest needs. Deterministic in (scale, seed)."""
    import math
    import os

    t0 = time.perf_counter()
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise VoicesaeError(f"scale: expected a positive number, got {scale!r}")
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((len(FEATURES), D))
    directions /= np.sqrt((directions * directions).sum(1, keepdims=True))
    parts, spk = _plan(scale, rng)
    total = sum(len(p.speaker) for p in parts.values())
    # Checked before anything is written: every set big enough to split and probe, all of it in memory.
    smallest = min(parts, key=lambda k: len(parts[k].speaker))
    if len(parts[smallest].speaker) < 4:
        raise VoicesaeError(f"scale {scale:g}: the {smallest} set would have {len(parts[smallest].speaker)} rows "
                            "(fewer than 4 to split into train and test); use a larger --scale (quick is 0.05)")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if total * D_B * 8 * 3 > memory:  # float64 while generating, with temporaries
        raise VoicesaeError(f"scale {scale:g}: {total:,} rows of dimension {D_B} (model B) need about "
                            f"{total * D_B * 24 / 2**30:,.0f} GiB while generated; this machine has {memory / 2**30:,.0f} GiB")
    out_dir.mkdir(parents=True, exist_ok=True)
    info = {}
    b, rng_b = model_b(seed, len(spk.arrays()[0]))
    with tqdm(total=2 * total, unit="row", unit_scale=True, disable=quiet, desc="synthetic embeddings") as bar:
        for name, part in parts.items():
            emb, nuisance, truth, planted = _compose(part, spk, directions, rng, bar=bar)
            prefix = {"sae_train": "sae", "language": "lang", "music": "music"}[name]
            meta = pd.DataFrame({
                "id": [f"{prefix}-{i:07d}" for i in range(len(emb))],
                "speaker": np.where(part.speaker < 0, "", np.char.add("spk-", np.char.zfill(part.speaker.astype(str), 6))),
                "language": part.language, "gender": part.gender, "is_music": part.is_music, "split": part.split,
                "native_spanish": part.native_spanish, "code_mixed": part.code_mixed,
                "pitch": np.round(nuisance["pitch"], 6), "codec": nuisance["codec"],
                "noise": np.round(nuisance["noise"], 6), "duration": np.round(nuisance["duration"], 6),
            })
            files = {"embeddings": out_dir / f"{name}.embeddings.npy", "metadata": out_dir / f"{name}.metadata.csv",
                     "ground_truth": out_dir / f"{name}.truth.safetensors"}
            with atomic_path(files["metadata"]) as tmp:
                meta.to_csv(tmp, index=False, lineterminator="\n")
            _write(files, emb, directions, truth)
            counts = meta.groupby(["split", "language", "gender", "is_music"]).size().to_dict()
            info[name] = {"files": files, "rows": len(emb), "dim": D, "counts": counts}
            del emb
            # Model B: the same rows through its own mixing; the same metadata file.
            emb_b, truth_b = _compose_b(planted, b, rng_b, bar=bar)
            files_b = {"embeddings": out_dir / f"{name}.model_b.embeddings.npy", "metadata": files["metadata"],
                       "ground_truth": out_dir / f"{name}.model_b.truth.safetensors"}
            _write(files_b, emb_b, b.directions, truth_b)
            info[f"{name}.model_b"] = {"files": files_b, "rows": len(emb_b), "dim": D_B, "counts": counts}
    if not quiet:
        tqdm.write(f"generated {total:,} rows (models A and B) in {time.perf_counter() - t0:.1f} s into {out_dir}")
    return info


def _write(files: dict, emb: np.ndarray, directions: np.ndarray, truth: dict) -> None:
    """One model's embeddings (.npy) and ground truth (.safetensors), each written atomically."""
    with atomic_path(files["embeddings"]) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, emb)
    with atomic_path(files["ground_truth"]) as tmp:
        save_file({"directions": directions.astype(np.float32), **truth}, str(tmp),
                  metadata={"feature_names": json.dumps(FEATURES)})


PROFILES = {"full": 1.0, "quick": 0.05}
"""Named scales: full is the paper's size; quick (5 %) is for CI and fast checks."""

DESCRIPTIONS = {
    "sae_train": "SAE training set: segments of many speakers, mostly English, some Spanish, 3 % hold music",
    "language": "Language Feature set: Table I's counts of English/Spanish x female/male, train and test",
    "music": "Music Feature set: Table II's counts of hold music and voice, train and test",
}


def build(data_dir: str | Path, manifest_dir: str | Path, scale: float, seed: int = 0, name: str = "synthetic",
          quiet: bool = False, command: str = "") -> list[Path]:
    """Generate the three datasets, each embedded by model A and model B, into ``data_dir`` and write
    (validated) manifests for them into ``manifest_dir`` (``<role>.json``, ``<role>.model_b.json``);
    returns the manifest paths."""
    from ..files import check_output
    from .manifest import write_manifest
    check_output(data_dir, (), "--data-dir", kind="folder")
    check_output(manifest_dir, (), "--manifest-dir", kind="folder")
    info = generate(data_dir, scale=scale, seed=seed, quiet=quiet)
    labels = {"language": ["en", "es", "none"], "gender": ["female", "male", "none"], "codec": list(range(N_CODECS)),
              "native_spanish": [0, 1], "code_mixed": [0, 1]}
    out = []
    for part, facts in info.items():
        f = facts["files"]
        role, _, model = part.partition(".")
        which = (" Embedded by model B (256-d, its own mixing of the same planted features; module docstring)"
                 if model else "")
        out.append(write_manifest(
            Path(manifest_dir) / f"{part}.json", f["embeddings"], f["metadata"], name=f"{name}/{part}",
            description=f"{DESCRIPTIONS[role]}.{which} Synthetic (voicesae_core.synthetic), scale {scale}.",
            command=command or f"python -m voicesae_core data generate --scale {scale} --seed {seed}", seed=seed,
            columns=COLUMNS, labels=labels, ground_truth=f["ground_truth"], normalization="l2 per row",
            extra_provenance={"generator": "voicesae_core.synthetic", "voicesae_version": __version__, "scale": scale,
                              **({"speaker_model": "model_b"} if model else {})}))
    return out


def regenerate(manifest_path: str | Path, quiet: bool = True) -> list[Path]:
    """Generate again the files a committed manifest of this benchmark names (all three datasets,
    into the folder its embeddings path points to), with the scale and seed its provenance records.
    The caller checks the result against the manifest's sha256s."""
    from .manifest import read_manifest
    path = Path(manifest_path)
    m = read_manifest(path)
    prov = m.get("provenance", {})
    if prov.get("generator") != "voicesae_core.synthetic" or "scale" not in prov:
        raise VoicesaeError(f"{path}: not a manifest of the synthetic benchmark (provenance.generator)")
    data_dir = (path.parent / m["embeddings"]["path"]).parent
    name = str(m.get("name", "synthetic")).rsplit("/", 1)[0]
    return build(data_dir, data_dir / "manifests", float(prov["scale"]), int(prov.get("seed", 0)), name=name,
                 quiet=quiet, command=prov.get("command", ""))
