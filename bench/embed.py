"""Benchmark: our extraction vs NeMo's own ``batch_inference`` on the same manifest and model.

    python bench/embed.py [--profile quick|full] [--batch-size 16] [--device cpu|cuda] [--model random:titanet-small]
                          [--repeats 3]

The demo corpus (``voicesae_core.audio.demo_corpus``) is generated and segmented into 4-8 s clips, then
embedded three ways with one TitaNet (the same weights in memory):

1. ours       ``extract.extract``: clips sorted by duration, zero-padded, true lengths (masked);
2. nemo       ``EncDecSpeakerLabelModel.batch_inference``: NeMo's dataloader, whose collate repeats
              each short clip up to the longest in its batch;
3. reference  every clip alone (batch size 1): what an embedding should be.

Each system first runs once on 4 clips (warm-up, untimed), then ``--repeats`` rounds in alternating
order. Printed: the minimum and median wall seconds, clips/s and the ratio to ours (by the
minimum), and the largest difference of each from the reference, relative to the reference's
largest absolute value, over all clips and over the clips whose files are already 16 kHz mono
(NeMo reads audio its own way: librosa resampling, the first channel of a stereo file; only
batching differs on those). Then the same on a manifest of equal-length clips (every segment cut
to 4 s), where NeMo's repetition pads nothing. A measurement, not a test: nothing here asserts a time.
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


def compare(m, manifest: Path, work: Path, batch_size: int, device: str, title: str, repeats: int) -> None:
    rows = nemo_manifest.read(manifest)
    warm = nemo_manifest.write(work / "warm.json", rows[:4])
    last = {}

    def ours(man: Path, tag: str) -> np.ndarray:
        last["result"] = extract.extract(man, work / f"ours-{tag}", m, batch_size=batch_size, quiet=True)  # a fresh folder
        ids, raw = extract.raw_embeddings(work / f"ours-{tag}")
        return raw[[ids.index(r.get("id")) for r in nemo_manifest.read(man)]]

    systems = {"ours (extract)": ours,
               "NeMo batch_inference": lambda man, tag: nemo_batch_inference(m, man, batch_size, device),
               "batch size 1 (reference)": lambda man, tag: reference(m, nemo_manifest.read(man))}
    for name, run in systems.items():  # warm-up: every system once on 4 clips, untimed
        run(warm, "warm")
    names, seconds, emb = list(systems), {name: [] for name in systems}, {}
    for r in range(repeats):  # rounds in alternating order, so no system always runs first
        for name in (names if r % 2 == 0 else names[::-1]):
            t = time.perf_counter()
            emb[name] = systems[name](manifest, str(r))
            seconds[name].append(time.perf_counter() - t)
    ours_best = min(seconds[names[0]])
    ref = emb[names[2]]
    n = len(rows)
    # NeMo reads audio its own way (librosa resampling, first channel of stereo); on files already
    # 16 kHz mono only batching can make a difference
    plain = np.array([clip.info(r["audio_filepath"])[:2] == (m.sample_rate, 1) for r in rows])
    print(f"\n{title}: {n} clips ({plain.sum()} already {m.sample_rate} Hz mono), "
          f"{sum(r['duration'] for r in rows):.0f} s of audio, batch {batch_size}, {device}; "
          f"{repeats} rounds, order alternating, after a warm-up")
    print(f"{'system':<28}{'min s':>8}{'median s':>10}{'clips/s':>9}{'x ours':>8}{'max rel diff vs batch-1':>25}"
          f"{'(16 kHz mono only)':>20}")
    for name in names:
        lo, med = min(seconds[name]), float(np.median(seconds[name]))
        print(f"{name:<28}{lo:>8.1f}{med:>10.1f}{n / lo:>9.2f}{lo / ours_best:>8.2f}{rel(emb[name], ref):>25.2e}"
              f"{rel(emb[name][plain], ref[plain]):>20.2e}")
    ours_emb, nemo = emb[names[0]], emb[names[1]]
    print(f"max rel diff ours vs NeMo batch_inference: {rel(ours_emb, nemo):.2e} (16 kHz mono only: "
          f"{rel(ours_emb[plain], nemo[plain]):.2e})  [{last['result'].summary()}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=["quick", "full"], default="quick")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="random:titanet-small")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of every system (order alternating)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        recordings = demo_corpus.generate(work / "corpus", args.profile, quiet=True)
        seg = segments.segment(recordings, work / "segments.json", quiet=True).manifest
        m = speaker_model.load(args.model, args.device)
        compare(m, seg, work / "varied", args.batch_size, args.device, "4-8 s segments (varied lengths)", args.repeats)
        equal = [{**r, "duration": 4.0} for r in nemo_manifest.read(seg)]
        equal_manifest = nemo_manifest.write(work / "equal.json", equal)
        compare(m, equal_manifest, work / "equal", args.batch_size, args.device, "every segment cut to 4 s (equal lengths)",
                args.repeats)
        print(json.dumps({"model": m.provenance["model"], "nemo_version": m.provenance.get("nemo_version")}))


if __name__ == "__main__":
    main()
