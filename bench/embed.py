"""Benchmark: our extraction vs NeMo's own ``batch_inference`` on the same manifest and model.

    python bench/embed.py [--profile quick|full] [--batch-size 16] [--device cpu|cuda] [--model random:titanet-small]

The demo corpus (``voicesae_core.audio.demo_corpus``) is generated and segmented into 4-8 s clips, then
embedded three ways with one TitaNet (the same weights in memory):

1. ours       ``extract.extract``: clips sorted by duration, zero-padded, true lengths (masked);
2. nemo       ``EncDecSpeakerLabelModel.batch_inference``: NeMo's dataloader, whose collate repeats
              each short clip up to the longest in its batch;
3. reference  every clip alone (batch size 1): what an embedding should be.

Printed: wall seconds, clips/s, the ratio to ours, and the largest difference of each from the
reference, relative to the reference's largest absolute value, over all clips and over the clips whose files are already
16 kHz mono (NeMo reads audio its own way: librosa resampling, the first channel of a stereo
file; only batching differs on those). Then the same on a manifest of equal-length clips (every
segment cut to 4 s), where NeMo's repetition pads nothing. A measurement, not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from voicesae_core.audio import clip, demo_corpus, extract, nemo_manifest, segments, speaker_model


def nemo_batch_inference(m: speaker_model.SpeakerModel, manifest: Path, batch_size: int, device: str) -> np.ndarray:
    from omegaconf import open_dict
    with open_dict(m.model.cfg):  # batch_inference reads the training labels; a model built from config has none
        m.model.cfg.setdefault("train_ds", {"labels": None})
    embs, _, _, _ = m.model.batch_inference(str(manifest), batch_size=batch_size, sample_rate=m.sample_rate,
                                            device=device)
    return np.asarray(embs, np.float32)


def reference(m: speaker_model.SpeakerModel, rows: list[dict]) -> np.ndarray:
    return np.concatenate([m.embed([clip.read(r["audio_filepath"], r["offset"], r["duration"]).signal])
                           for r in rows])


def rel(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(a - ref).max() / np.abs(ref).max())


def compare(m, manifest: Path, work: Path, batch_size: int, device: str, title: str) -> None:
    rows = nemo_manifest.read(manifest)
    t = time.perf_counter()
    result = extract.extract(manifest, work / "ours", m, batch_size=batch_size, quiet=True)
    t_ours = time.perf_counter() - t
    ids, raw = extract.raw_embeddings(work / "ours")
    order = [r.get("id") for r in rows]
    ours = raw[[ids.index(i) for i in order]]
    t = time.perf_counter()
    nemo = nemo_batch_inference(m, manifest, batch_size, device)
    t_nemo = time.perf_counter() - t
    t = time.perf_counter()
    ref = reference(m, rows)
    t_ref = time.perf_counter() - t
    n = len(rows)
    # NeMo reads audio its own way (librosa resampling, first channel of stereo); on files already
    # 16 kHz mono only batching can make a difference
    plain = np.array([clip.info(r["audio_filepath"])[:2] == (m.sample_rate, 1) for r in rows])
    print(f"\n{title}: {n} clips ({plain.sum()} already {m.sample_rate} Hz mono), "
          f"{sum(r['duration'] for r in rows):.0f} s of audio, batch {batch_size}, {device}")
    print(f"{'system':<28}{'wall s':>9}{'clips/s':>10}{'x ours':>9}{'max rel diff vs batch-1':>25}{'(16 kHz mono only)':>20}")
    for name, secs, emb in [("ours (extract)", t_ours, ours), ("NeMo batch_inference", t_nemo, nemo),
                            ("batch size 1 (reference)", t_ref, ref)]:
        print(f"{name:<28}{secs:>9.1f}{n / secs:>10.2f}{secs / t_ours:>9.2f}{rel(emb, ref):>25.2e}"
              f"{rel(emb[plain], ref[plain]):>20.2e}")
    print(f"max rel diff ours vs NeMo batch_inference: {rel(ours, nemo):.2e} (16 kHz mono only: "
          f"{rel(ours[plain], nemo[plain]):.2e})  [{result.summary()}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=["quick", "full"], default="quick")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="random:titanet-small")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        recordings = demo_corpus.generate(work / "corpus", args.profile, quiet=True)
        seg = segments.segment(recordings, work / "segments.json", quiet=True).manifest
        m = speaker_model.load(args.model, args.device)
        compare(m, seg, work / "varied", args.batch_size, args.device, "4-8 s segments (varied lengths)")
        equal = [{**r, "duration": 4.0} for r in nemo_manifest.read(seg)]
        equal_manifest = nemo_manifest.write(work / "equal.json", equal)
        compare(m, equal_manifest, work / "equal", args.batch_size, args.device, "every segment cut to 4 s (equal lengths)")
        print(json.dumps({"model": m.provenance["model"], "nemo_version": m.provenance.get("nemo_version")}))


if __name__ == "__main__":
    main()
