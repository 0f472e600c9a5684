"""Embedding extraction: a NeMo manifest of clips -> embeddings + metadata + a data manifest.

``extract`` reads every row's audio (``clip.read``: mono, resampled, checked), embeds the clips
in batches of similar duration (``speaker_model``: zero-padded, lengths masked, so batching does
not change an embedding; on a CPU one clip at a time), and writes into ``out_dir``:

* ``embeddings.npy`` and ``metadata.csv`` (one row per embedded clip, manifest order, every
  manifest field kept) and ``manifest.json``, a data manifest that ``manifest.load`` validates,
  ready for the SAE grid and the notebooks;
* ``skipped.csv``: every row not embedded, with its reason (missing, corrupt, silent, too_short,
  out_of_range) -- no row is lost silently, unlike NeMo's dataset, which drops rows under
  ``min_duration`` without a word;
* ``parts/``: the raw embeddings in chunks as they are computed. A rerun skips the rows already
  there (resumable); skipped rows are retried, in case their files were mended.

Normalisation is explicit and recorded in the manifest: ``none`` (the model's output), ``l2``
(per row) or ``nemo`` (NeMo's ``embedding_normalize``: minus the mean of *this set*, then l2, so
each row depends on which rows were extracted together).

``extract_models`` embeds one manifest with several speaker models, each into its own folder
(``model_folder``), and tabulates the runs (chapter 6).
"""
from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import clip, nemo_manifest, speaker_model
from ..errors import VoicesaeError
from ..files import atomic_path, check_output, read_json, sha256_file, write_csv, write_json
from ..data.manifest import FIXED_LABELS, STANDARD_MEANINGS, bad_label, write_manifest

if TYPE_CHECKING:
    from . import ray_engine

NORMALIZATIONS = ("none", "l2", "nemo")
SKIPPED_COLUMNS = ["id", "row", "audio_filepath", "reason", "message"]


@dataclass
class ExtractResult:
    manifest: Path
    """The data manifest written (``out_dir/manifest.json``)."""
    rows: int
    """Rows in the NeMo manifest."""
    embedded: int
    reused: int
    """Rows whose embeddings came from an earlier, interrupted run."""
    skipped: pd.DataFrame
    """id, row, audio_filepath, reason, message of every row not embedded."""
    seconds: float
    """Wall time of this run's embedding loop."""

    @property
    def clips_per_s(self) -> float:
        return (self.embedded - self.reused) / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> str:
        reasons = ", ".join(f"{n} {r}" for r, n in self.skipped["reason"].value_counts().items()) or "none"
        return (f"embedded {self.embedded} of {self.rows} rows ({self.reused} from an earlier run); "
                f"skipped {len(self.skipped)} ({reasons}); {self.clips_per_s:.1f} clips/s")


def row_ids(rows: list[dict], source: Path) -> list[str]:
    """Each row's ``id`` field, or ``<file stem>@<offset>``; a repeated id is an error naming both rows."""
    ids, seen = [], {}
    for row in rows:
        rid = str(row["id"]) if row.get("id") not in (None, "") else f"{Path(row['audio_filepath']).stem}@{row['offset']:g}"
        if rid in seen:
            raise VoicesaeError(f"{source}: row {row['_row']}: field 'id': {rid!r} repeats row {seen[rid]} "
                                "(give each row a unique 'id')")
        seen[rid] = row["_row"]
        ids.append(rid)
    return ids


def _check_labels(rows: list[dict], source: Path) -> None:
    """The fields with a fixed set of values (``split``, ``is_music``), checked in the NeMo manifest
    itself: an error names its row, before any clip is embedded."""
    table = pd.DataFrame([{c: r[c] for c in FIXED_LABELS if c in r} for r in rows])
    bad = bad_label(table.fillna("(missing)")) if len(table.columns) else None
    if bad:
        at, column, allowed = bad
        raise VoicesaeError(f"{source}: row {rows[at]['_row']}, field {column!r}: unknown value "
                            f"{rows[at].get(column, '(missing)')!r} (allowed: {allowed})")


def normalize(emb: np.ndarray, how: str) -> tuple[np.ndarray, str]:
    """Apply a normalisation; returns the embeddings and the sentence the manifest records."""
    if how == "none":
        return emb, "none (the model's raw output)"
    # A row with no direction left (zero, or -- with 'nemo' -- equal to the set's mean up to float
    # rounding) becomes NaN here, for the caller to name; dividing rounding noise by its length
    # would give a finite, meaningless unit vector.
    def unit(v, scale):
        length = np.linalg.norm(v, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(length > 1e-5 * scale, v / length, np.nan).astype(np.float32)

    raw_length = np.linalg.norm(emb, axis=1, keepdims=True)
    if how == "l2":
        return unit(emb, 1e-30), "l2 per row"
    if how == "nemo":
        return (unit(emb - emb.mean(axis=0), raw_length),
                f"NeMo embedding_normalize over these {len(emb)} rows: minus their mean, then l2 per row "
                "(set-dependent: a row changes if other rows are added or removed)")
    raise VoicesaeError(f"normalization {how!r}: expected one of {NORMALIZATIONS}")


def _parts(out_dir: Path) -> dict[str, tuple[np.ndarray, str, str]]:
    """{id: (raw embedding, audio notes, row key)} of every chunk an earlier run saved (a later
    chunk's entry for an id replaces an earlier one's)."""
    done = {}
    for part in sorted((out_dir / "parts").glob("part-*.npz")):
        try:
            with np.load(part, allow_pickle=False) as z:
                keys = z["keys"].tolist() if "keys" in z.files else [""] * len(z["ids"])  # older parts: never reused
                done.update(zip(z["ids"].tolist(), zip(z["embeddings"], z["notes"].tolist(), keys)))
        except (ValueError, OSError, KeyError) as e:
            raise VoicesaeError(f"{part}: corrupt part of an earlier extraction ({e}); delete it to embed "
                                "its rows again") from None
    return done


def row_keys(rows: list[dict], min_duration: float) -> list[str]:
    """For each row, a hash of everything its embedding depends on besides the model (which
    ``extraction.json`` pins): the audio file's bytes, offset, duration and min_duration. A
    resumed run reuses an embedding only under the same id *and* key, so an edited row or a
    replaced audio file is embedded again, never served stale."""
    import hashlib

    audio_hash = {}
    keys = []
    for row in rows:
        path = row["audio_filepath"]
        if path not in audio_hash:
            audio_hash[path] = sha256_file(path) if Path(path).is_file() else "missing"
        what = [audio_hash[path], row["offset"], row.get("duration"), min_duration]
        keys.append(hashlib.sha256(json.dumps(what).encode()).hexdigest())
    return keys


def raw_embeddings(out_dir: str | Path) -> tuple[list[str], np.ndarray]:
    """The ids and raw (unnormalised) embeddings saved in ``out_dir/parts``."""
    done = _parts(Path(out_dir))
    if not done:
        raise VoicesaeError(f"{out_dir}: no extracted embeddings (parts/) here")
    return list(done), np.stack([e for e, _, _ in done.values()])


def _save_part(out_dir: Path, ids: list[str], emb: list[np.ndarray], notes: list[str], keys: list[str]) -> None:
    n = len(list((out_dir / "parts").glob("part-*.npz")))
    with atomic_path(out_dir / "parts" / f"part-{n:05d}.npz", suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, ids=np.array(ids, dtype=str), embeddings=np.stack(emb).astype(np.float32),
                     notes=np.array(notes, dtype=str), keys=np.array(keys, dtype=str))


def extract(nemo_in: str | Path, out_dir: str | Path, model: str | speaker_model.SpeakerModel = "random:titanet-small",
            name: str | None = None, batch_size: int = 16, min_duration: float = 0.5, normalization: str = "none",
            device: str = "auto", seed: int = 0, columns: dict | None = None, flush_every: int = 256,
            quiet: bool = False, cluster: "ray_engine.RayOptions | None" = None) -> ExtractResult:
    """Embed every row of the NeMo manifest ``nemo_in`` into ``out_dir`` (see the module's docstring).
    ``device`` (auto, cpu, cuda or cuda:N) is where a model named by ``model`` is loaded; a loaded
    ``SpeakerModel`` runs where it is. Either way the device is part of ``extraction.json``.

    ``cluster``: embed on a Ray cluster instead (``ray_engine``; ``model`` must then be a name or path,
    which each of its workers loads). Everything else is the same: the parts, the resume, the one
    normalisation over all rows at the end, ``manifest.json`` and ``skipped.csv``."""
    from ..device import describe, resolve as resolve_device

    # Everything that can be checked is, before a model is loaded or a clip embedded.
    if normalization not in NORMALIZATIONS:
        raise VoicesaeError(f"normalization {normalization!r}: expected one of {NORMALIZATIONS}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise VoicesaeError(f"batch_size: expected an integer of at least 1, got {batch_size!r}")
    if not (isinstance(min_duration, (int, float)) and math.isfinite(min_duration) and min_duration >= 0):
        raise VoicesaeError(f"min_duration: expected a non-negative number of seconds, got {min_duration!r}")
    device = str(resolve_device(device, "device"))
    nemo_in, out_dir = Path(nemo_in), Path(out_dir)
    rows = nemo_manifest.read(nemo_in)
    check_output(out_dir, [nemo_in, *(r["audio_filepath"] for r in rows)], "--out", kind="folder")
    ids = row_ids(rows, nemo_in)
    _check_labels(rows, nemo_in)
    keys = row_keys(rows, min_duration)
    if cluster is not None:
        from . import ray_engine
        if not isinstance(model, str):
            raise VoicesaeError("extract on Ray: give the model by name or path (each worker loads its own copy)")
        device = cluster.device
    # On Ray the model is loaded here too, on the CPU, for what identifies the embeddings (its provenance)
    m = model if isinstance(model, speaker_model.SpeakerModel) else speaker_model.load(
        model, device if cluster is None else "cpu", seed)

    # An interrupted run may be resumed only with the same model, on the same kind of device (a GPU's
    # embeddings differ from a CPU's in the last float32 digits: one table never mixes them).
    stamp = json.loads(json.dumps({**m.provenance, "device": describe(m.device) if cluster is None else device}))
    stamp_path = out_dir / "extraction.json"
    earlier = read_json(stamp_path) if stamp_path.exists() else stamp
    if isinstance(earlier, dict):
        earlier.setdefault("device", "cpu")  # stamps from before the device was recorded: all ran on a CPU
    if earlier != stamp:
        differ = [f"{k}: {earlier.get(k)!r} there, {stamp.get(k)!r} now" for k in sorted({*stamp, *earlier})
                  if earlier.get(k) != stamp.get(k)] if isinstance(earlier, dict) else ["not a stamp"]
        raise VoicesaeError(f"{stamp_path}: {out_dir} holds embeddings from another model or setting "
                            f"({'; '.join(differ[:3])}); use another folder or delete it")
    write_json(stamp_path, stamp)
    done = _parts(out_dir)
    fresh = {rid for rid, key in zip(ids, keys) if rid in done and done[rid][2] == key}
    reused = len(fresh)

    skipped, pending = [], []
    for rid, row, key in zip(ids, rows, keys):
        if rid in fresh:
            continue
        if row.get("duration") is not None and row["duration"] < min_duration:
            skipped.append(skip_row(rid, row, "too_short", f"duration {row['duration']} s < min_duration {min_duration} s"))
            continue
        pending.append((rid, row, key))
    # Similar durations together: little padding to compute. (Results do not depend on it.)
    pending.sort(key=lambda p: p[1].get("duration") or 0.0)

    def flush(new: list[tuple[str, np.ndarray, str, str]]) -> None:
        """Save embedded rows (id, raw embedding, audio notes, key) as a part: what a rerun reuses."""
        _save_part(out_dir, [r[0] for r in new], [r[1] for r in new], [r[2] for r in new], [r[3] for r in new])
        done.update((rid, (e, note, key)) for rid, e, note, key in new)
        fresh.update(r[0] for r in new)

    start = time.perf_counter()
    if cluster is None:
        _embed_here(m, pending, batch_size, min_duration, flush_every, flush, skipped, quiet)
    else:
        ray_engine.embed(model, seed, m.sample_rate, pending, batch_size, min_duration, flush_every, flush, skipped,
                         cluster, quiet)
    seconds = time.perf_counter() - start

    skipped_table = pd.DataFrame(skipped, columns=SKIPPED_COLUMNS).sort_values("row").reset_index(drop=True)
    keep = [i for i, rid in enumerate(ids) if rid in fresh]
    if not keep:
        write_csv(out_dir / "skipped.csv", skipped_table, index=False)
        raise VoicesaeError(f"{nemo_in}: no row could be embedded ({len(skipped)} skipped; see {out_dir / 'skipped.csv'})")
    emb, sentence = normalize(np.stack([done[ids[i]][0] for i in keep]).astype(np.float32), normalization)
    zero = np.flatnonzero(~np.all(np.isfinite(emb), axis=1))
    if len(zero):
        raise VoicesaeError(f"{nemo_in}: row {rows[keep[zero[0]]]['_row']}: normalization {normalization!r} "
                            f"leaves {len(zero)} of {len(keep)} embedding(s) undefined (a zero vector divided by "
                            "its length; with 'nemo': one row, or rows identical to their mean); use another "
                            "normalization or more rows. Nothing was written but the reusable parts/ and extraction.json")
    write_csv(out_dir / "skipped.csv", skipped_table, index=False)

    meta = pd.DataFrame([{"id": ids[i], **{k: v for k, v in rows[i].items() if k not in ("_row", "id")},
                          "manifest_row": rows[i]["_row"], "audio_notes": done[ids[i]][1]} for i in keep])
    # The manifest goes last, and the old one first: a run killed in between leaves no manifest
    # (so nothing loads a half-updated set), and a rerun reuses every part.
    (out_dir / "manifest.json").unlink(missing_ok=True)
    with atomic_path(out_dir / "embeddings.npy", suffix=".npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, emb.astype(np.float32))
    write_csv(out_dir / "metadata.csv", meta, index=False)
    meanings = {c: STANDARD_MEANINGS.get(c) or nemo_manifest.NEMO_FIELDS.get(c) or f"field {c!r} of the NeMo manifest"
                for c in meta.columns}
    meanings.update({"manifest_row": "the row of the NeMo manifest (from 1)",
                     "audio_notes": "repairs made while reading the audio (resampling, channels -> mono), if any",
                     "source_row": "the row of the recordings' manifest this segment was cut from"})
    meanings = {c: v for c, v in {**meanings, **(columns or {})}.items() if c in meta.columns}
    result = ExtractResult(out_dir / "manifest.json", len(rows), len(keep), reused, skipped_table, seconds)
    provenance = {**m.provenance, "nemo_manifest": str(nemo_in.resolve()), "nemo_manifest_sha256": sha256_file(nemo_in),
                  "min_duration": min_duration, "normalization": normalization, "rows_in": len(rows),
                  "skipped": len(skipped_table)}
    write_manifest(result.manifest, out_dir / "embeddings.npy", out_dir / "metadata.csv",
                   name=name or nemo_in.stem, description=f"{m.source} embeddings of {nemo_in.name}: {result.summary()}",
                   command=f"python -m voicesae_core audio extract {nemo_in} --out {out_dir} --model {m.source}",
                   seed=seed, columns=meanings, normalization=sentence, extra_provenance=provenance)
    return result


def _embed_here(m: speaker_model.SpeakerModel, pending: list, batch_size: int, min_duration: float,
                flush_every: int, flush, skipped: list, quiet: bool) -> None:
    """The local engine: ``pending`` [(id, row, key)] embedded in this process, in batches; every
    ``flush_every`` embedded rows go to ``flush``, every row not embedded to ``skipped``."""
    from tqdm import tqdm

    from ..device import exact_float32

    new = []
    bar = tqdm(total=len(pending), desc=f"embedding ({m.source})", unit="clip", disable=quiet)
    batches = [pending[b: b + batch_size] for b in range(0, len(pending), batch_size)]

    def read(batch):
        """A batch's clips decoded: (signals, [(rid, key, note, row)], [skipped rows])."""
        signals, kept, bad = [], [], []
        for rid, row, key in batch:
            try:
                sound = clip.read(row["audio_filepath"], row["offset"], row.get("duration"), m.sample_rate, min_duration)
            except clip.BadAudio as e:
                bad.append(skip_row(rid, row, e.reason, str(e)))
                continue
            signals.append(sound.signal)
            kept.append((rid, key, "; ".join(sound.notes), row))
        return signals, kept, bad

    # The next batch is decoded in a thread while this one is embedded (decoding and resampling
    # release the GIL), so a GPU does not wait for the disk. The results do not depend on it.
    decoder = ThreadPoolExecutor(1)
    upcoming = decoder.submit(read, batches[0]) if batches else None
    try:
        for i, batch in enumerate(batches):
            signals, kept, bad = upcoming.result()
            upcoming = decoder.submit(read, batches[i + 1]) if i + 1 < len(batches) else None
            skipped.extend(bad)
            if signals:
                with exact_float32():  # CUDA would convolve in TF32, ~1e-3 off the CPU's embeddings
                    embedded = m.embed(signals)
                for (rid, key, note, row), e in zip(kept, embedded):
                    if not np.all(np.isfinite(e)):  # the model's failure on this clip, said, never saved
                        skipped.append(skip_row(rid, row, "non_finite", "the speaker model returned NaN or inf"))
                        continue
                    new.append((rid, e, note, key))
            bar.update(len(batch))
            bar.set_postfix(skipped=len(skipped))
            if len(new) >= flush_every or (i + 1 == len(batches) and new):
                flush(new)
                new = []
    finally:
        decoder.shutdown(cancel_futures=True)
    bar.close()


def skip_row(rid: str, row: dict, reason: str, message: str) -> dict:
    """A row of skipped.csv."""
    return {"id": rid, "row": row["_row"], "audio_filepath": row["audio_filepath"], "reason": reason, "message": message}


# ------------------------------------------------------------------------------- several models

RUNS_COLUMNS = ["dim", "embedded", "skipped", "clips/s (this run)", "raw mean pairwise cosine", "normalization"]
"""The columns of ``extract_models``'s table (index: ``model``)."""

DESCRIPTIVE_COLUMNS = ("gender", "channel")
"""Metadata columns, besides the labels' own, by which segments are counted (chapter 6) and chapter 6's
SAE is catalogued (chapter 11), when the recordings have them."""


def model_folder(model: str) -> str:
    """The folder name of one speaker model's outputs: ``random:titanet-small`` -> ``random-titanet-small``,
    ``/models/mine.nemo`` -> ``mine``, ``nvidia/speakerverification_en_titanet_large`` ->
    ``nvidia-speakerverification_en_titanet_large``."""
    import re
    name = Path(model).stem if str(model).endswith(".nemo") else str(model)
    folder = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    if not folder:
        raise VoicesaeError(f"speaker model {model!r}: no usable folder name in it")
    return folder


def mean_pairwise_cosine(x: np.ndarray) -> float:
    """The mean cosine similarity over all pairs of distinct rows of ``x`` (1: every row points the same way)."""
    x = np.asarray(x, np.float64)
    if len(x) < 2:
        raise VoicesaeError(f"mean_pairwise_cosine: needs at least 2 rows, got {len(x)}")
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    total = unit.sum(0)
    return float((total @ total - len(unit)) / (len(unit) * (len(unit) - 1)))


def extract_models(nemo_in: str | Path, out_dir: str | Path, models: list, normalization: str = "none",
                   seed: int = 0, columns: dict | None = None, device: str = "auto",
                   quiet: bool = False) -> tuple[dict, pd.DataFrame]:
    """Embed the NeMo manifest ``nemo_in`` with each speaker model of ``models`` (names as ``extract``
    takes them, or loaded ``SpeakerModel``s) into ``out_dir/<model_folder(name)>``. Returns
    {name: its Dataset (``manifest.load``)} and one row per model (index ``model``, columns
    ``RUNS_COLUMNS``): the embedding's dimension, rows embedded and skipped, this run's clips per
    second, the mean pairwise cosine of the raw (unnormalised) embeddings of the rows embedded
    (NaN under 2 rows), and the normalisation applied."""
    from ..data import manifest

    models = list(models)
    if not models:
        raise VoicesaeError(f"{nemo_in}: no speaker model given (chapters.audio.models is empty)")
    names = [m.source if isinstance(m, speaker_model.SpeakerModel) else str(m) for m in models]
    folders = [model_folder(n) for n in names]
    clash = sorted({f for f in folders if folders.count(f) > 1})
    if clash:
        raise VoicesaeError(f"speaker models {names}: more than one writes to the folder(s) {clash}; "
                            "list each model once")
    rows = nemo_manifest.read(nemo_in)
    id_of_row = dict(zip((r["_row"] for r in rows), row_ids(rows, Path(nemo_in))))
    datasets, runs = {}, []
    for name, model, folder in zip(names, models, folders):
        out = Path(out_dir) / folder
        result = extract(nemo_in, out, model, normalization=normalization, device=device, seed=seed,
                         columns=columns, quiet=quiet)
        ds = manifest.load(result.manifest)
        ids, raw = raw_embeddings(out)
        at = {rid: i for i, rid in enumerate(ids)}
        raw = raw[[at[id_of_row[int(r)]] for r in ds.metadata["manifest_row"]]]  # this manifest's rows only
        datasets[name] = ds
        runs.append({"model": name, "dim": raw.shape[1], "embedded": result.embedded, "skipped": len(result.skipped),
                     "clips/s (this run)": round(result.clips_per_s, 1),
                     "raw mean pairwise cosine": round(mean_pairwise_cosine(raw), 5) if len(raw) > 1 else float("nan"),
                     "normalization": normalization})
    return datasets, pd.DataFrame(runs, columns=["model", *RUNS_COLUMNS]).set_index("model")
