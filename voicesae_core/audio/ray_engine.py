"""Extraction on a Ray cluster (``audio extract ... --engine ray``): Ray Data's batch inference.

The rows still to embed become a Ray dataset; a first ``map_batches`` stage decodes their audio
(``clip.read``: CPU tasks, anywhere on the cluster), a second embeds them in a pool of actors that
each load the speaker model once (``workers`` of them, ``gpus_per_worker`` GPUs each, or CPUs).
The driver (this process) streams the results back and saves them as parts every ``flush_every``
rows, exactly as the local engine does, so what a run saved survives it: a rerun, on Ray or not,
embeds only the rows not yet saved. A worker that dies is restarted by Ray Data (its actor pools
restart dead actors and retry their batches by default); a driver that dies loses only the rows
not yet saved. The set-dependent normalisation and the
manifest are done by ``extract`` once over all parts, as for the local engine.

Ray is an optional extra (``ray[data]``). Without ``address`` a local Ray instance is started with
``workers`` + 1 logical CPUs (one for the decoding tasks) and shut down at the end; with one (a
``ray start --head`` cluster, ``auto`` or ``host:6379``) the job joins it.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from ..errors import VoicesaeError
from . import clip, speaker_model


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to embed on Ray."""

    address: str | None = None
    """A running cluster (``ray start --head`` prints it; ``auto`` finds a local one); None: start one here."""
    workers: int = 2
    """Embedding actors, each holding one copy of the model."""
    gpus_per_worker: float = 0.0
    """GPUs per actor (0: the actors run on CPUs, one each)."""

    def __post_init__(self):
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise VoicesaeError(f"--workers: expected an integer of at least 1, got {self.workers!r}")
        if not (isinstance(self.gpus_per_worker, (int, float)) and 0 <= self.gpus_per_worker):
            raise VoicesaeError(f"--gpus-per-worker: expected a number of at least 0, got {self.gpus_per_worker!r}")

    @property
    def device(self) -> str:
        """Where the actors embed, as ``extraction.json`` records it."""
        return "cuda (on Ray workers)" if self.gpus_per_worker > 0 else "cpu"


def _decode(batch: dict, sample_rate: int, min_duration: float) -> dict:
    """Ray's read stage: each row's clip decoded (``signal``), or the reason it cannot be."""
    signals, notes, reasons, messages = [], [], [], []
    for path, offset, duration in zip(batch["audio_filepath"], batch["offset"], batch["duration"]):
        try:
            sound = clip.read(str(path), float(offset), None if np.isnan(duration) else float(duration),
                              sample_rate, min_duration)
        except clip.BadAudio as e:
            signals.append(np.zeros(0, np.float32))
            notes.append("")
            reasons.append(e.reason)
            messages.append(str(e))
            continue
        signals.append(sound.signal.astype(np.float32))
        notes.append("; ".join(sound.notes))
        reasons.append("")
        messages.append("")
    return {"index": batch["index"], "signal": np.array(signals + [None], dtype=object)[:-1], "note": np.array(notes),
            "reason": np.array(reasons), "message": np.array(messages)}


class _Embedder:
    """Ray's embedding stage: an actor holding one copy of the speaker model."""

    def __init__(self, model: str, device: str, seed: int):
        self.model = speaker_model.load(model, device, seed)

    def __call__(self, batch: dict) -> dict:
        from ..device import exact_float32

        ok = [i for i, r in enumerate(batch["reason"]) if not r]
        emb = np.full((len(batch["reason"]), self.model.dim), np.nan, np.float32)
        if ok:
            with exact_float32():
                emb[ok] = self.model.embed([np.asarray(batch["signal"][i], np.float32) for i in ok])
        return {"index": batch["index"], "embedding": emb, "note": batch["note"], "reason": batch["reason"],
                "message": batch["message"]}


def embed(model: str, seed: int, sample_rate: int, pending: list, batch_size: int, min_duration: float,
          flush_every: int, flush, skipped: list, options: RayOptions, quiet: bool) -> None:
    """Embed ``pending`` [(id, row, key)] on Ray; as ``extract._embed_here`` for the rest."""
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise VoicesaeError(f"--engine ray needs Ray Data ({e}); install it: pip install 'ray[data]'") from None
    from tqdm import tqdm

    from .extract import skip_row

    if not pending:
        return
    started = not ray.is_initialized()
    if started:
        logging.getLogger("ray").setLevel(logging.ERROR)
        kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        try:
            if options.address:
                ray.init(address=options.address, **kwargs)
            else:  # one logical CPU per actor, and one for the decoding tasks
                ray.init(num_cpus=options.workers + 1, num_gpus=None, object_store_memory=512 * 1024**2, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"--address {options.address}: cannot join the Ray cluster" if options.address else \
                "--engine ray: cannot start a local Ray instance"
            raise VoicesaeError(f"{where} ({e})") from None
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        if options.gpus_per_worker > gpus:  # Ray would wait for them without a word
            raise VoicesaeError(f"--gpus-per-worker {options.gpus_per_worker:g}: the Ray cluster has {gpus:g} GPU(s)")
        if model.endswith(".nemo"):  # the actors may run elsewhere, in another working directory
            model = os.path.abspath(model)
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours below counts clips
        context.print_on_execution_start = False
        rows = [{"index": i, "audio_filepath": row["audio_filepath"], "offset": float(row["offset"]),
                 "duration": float("nan") if row.get("duration") is None else float(row["duration"])}
                for i, (_, row, _) in enumerate(pending)]
        device = "cuda" if options.gpus_per_worker > 0 else "cpu"
        ds = (ray.data.from_items(rows, override_num_blocks=max(1, len(rows) // batch_size))
              .map_batches(_decode, fn_kwargs={"sample_rate": sample_rate, "min_duration": min_duration},
                           batch_size=batch_size, num_cpus=1)
              # an actor pool: Ray Data restarts a dead actor and retries its batch
              .map_batches(_Embedder, fn_constructor_kwargs={"model": model, "device": device, "seed": seed},
                           batch_size=batch_size, concurrency=options.workers,
                           num_gpus=options.gpus_per_worker or None, num_cpus=0 if options.gpus_per_worker else 1))
        new = []
        bar = tqdm(total=len(pending), desc=f"embedding on Ray ({model}, {options.workers} workers)", unit="clip",
                   disable=quiet)
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for i, e, note, reason, message in zip(batch["index"], batch["embedding"], batch["note"], batch["reason"],
                                                   batch["message"]):
                rid, row, key = pending[int(i)]
                if reason:
                    skipped.append(skip_row(rid, row, str(reason), str(message)))
                elif not np.all(np.isfinite(e)):
                    skipped.append(skip_row(rid, row, "non_finite", "the speaker model returned NaN or inf"))
                else:
                    new.append((rid, np.asarray(e, np.float32), str(note), key))
            bar.update(len(batch["index"]))
            bar.set_postfix(skipped=len(skipped))
            if len(new) >= flush_every:
                flush(new)
                new = []
        if new:
            flush(new)
        bar.close()
    finally:
        if started:
            ray.shutdown()

