"""Command line: ``python -m voicesae_core train-grid|evaluate|sae|data|audio|study|notebooks|book ...``.

Every bad input ends with one line, ``error: <what and where>``, and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from .sae.config import ACTIVATIONS, TrainConfig, expand_grid
from .errors import VoicesaeError


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in our one-line form (``error: argument --epochs: ...``, exit 2), and
    no abbreviated options (``--epoch`` is an error, not a silent ``--epochs``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def _ints(text: str, least: int = 1) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < least:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers of at least {least}, got {text!r}")
    return values


def _seeds(text: str) -> list[int]:
    return _ints(text, least=0)


def _whole(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected at least {least}, got {value}")
    return value


def _seed(text: str) -> int:
    """A whole number of at least 0."""
    return _whole(text, 0)


def _count(text: str) -> int:
    """A whole number of at least 1 (epochs, batch sizes, steps)."""
    return _whole(text, 1)


def _seconds(text: str) -> float:
    """A finite, non-negative number (seconds, scales)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number of at least 0, got {text!r}")
    return value


def _positive(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def load_embeddings(path: str) -> np.ndarray:
    """A (rows, dimensions) float array from a .npy file (header checked first; never unpickled)."""
    from .arrays import read_npy

    if Path(path).suffix != ".npy":
        raise VoicesaeError(f"{path}: expected a .npy file of embeddings (rows x dimensions)")
    return read_npy(path)


def main(argv: list[str] | None = None) -> int:
    ap = _Parser(prog="python -m voicesae_core", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train-grid", help="train a grid of SAEs on an embeddings .npy in one pass per epoch")
    t.add_argument("data", help="embeddings, a .npy of shape (rows, dimensions)")
    t.add_argument("--out", required=True, help="output folder (models/, results.csv, checkpoint)")
    t.add_argument("--latent-dims", type=_ints, default=[100, 200, 300, 400, 500, 600])
    t.add_argument("--ks", type=_ints, default=[5, 10, 15, 20, 25, 30, 35])
    t.add_argument("--activations", default="topk", help=f"comma-separated, of {', '.join(ACTIVATIONS)}")
    t.add_argument("--seeds", type=_seeds, default=[0])
    t.add_argument("--epochs", type=_count, default=1)
    t.add_argument("--batch-size", type=_count, default=4096)
    t.add_argument("--data-seed", type=_seed, default=0)
    t.add_argument("--checkpoint-every", type=_count, default=None, help="also checkpoint every N steps")
    t.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    t.add_argument("--eval-data", default=None, help="optional .npy to compute the metrics on")
    t.add_argument("--quiet", action="store_true")

    e = sub.add_parser("evaluate", help="metrics of a saved SAE on an embeddings .npy, as JSON")
    e.add_argument("model", help="a saved SAE folder (cfg.json + model.safetensors)")
    e.add_argument("data")
    e.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")

    sae = sub.add_parser("sae", help="SAEs in other libraries' formats: export ours, import theirs")
    ssub_ = sae.add_subparsers(dest="sae_command", required=True)
    sx = ssub_.add_parser("export", help="write a saved SAE of ours as SAELens 6 or sparsify files")
    sx.add_argument("model", help="a saved SAE folder of ours (cfg.json + model.safetensors)")
    sx.add_argument("--format", required=True, choices=["saelens", "sparsify"])
    sx.add_argument("--out", required=True, help="a new folder for the exported files")
    si_ = ssub_.add_parser("import", help="read an SAE folder (ours, SAELens, sparsify or dictionary_learning) "
                                          "and save it as ours")
    si_.add_argument("path", help="the SAE folder; its format is found from the weights file it holds")
    si_.add_argument("--out", required=True, help="a new folder for our cfg.json + model.safetensors")
    si_.add_argument("--k", type=_count, default=None,
                     help="K of a SAELens jumprelu SAE read as our batchtopk (its files do not hold it)")

    data = sub.add_parser("data", help="datasets: generate the synthetic default, validate or write manifests")
    dsub = data.add_subparsers(dest="data_command", required=True)
    g = dsub.add_parser("generate", help="generate the synthetic benchmark and its manifests")
    g.add_argument("--profile", choices=["quick", "full"], default="quick",
                   help="quick (5 %% scale) or full (the paper's size); sets the folders below")
    g.add_argument("--scale", type=_positive, default=None, help="overrides the profile's scale")
    g.add_argument("--seed", type=_seed, default=0)
    g.add_argument("--data-dir", default=None, help="default: data/synthetic/<profile>")
    g.add_argument("--manifest-dir", default=None, help="default: data_manifests/synthetic-<profile>")
    g.add_argument("--quiet", action="store_true")
    v = dsub.add_parser("validate", help="validate manifests and their files")
    v.add_argument("manifests", nargs="+")
    w = dsub.add_parser("manifest", help="write a manifest for your own embeddings and metadata")
    w.add_argument("--embeddings", required=True, help=".npy, .parquet (with an id column) or NeMo's .pkl")
    w.add_argument("--metadata", required=True, help=".csv or .jsonl with an id column")
    w.add_argument("--out", required=True, help="the manifest to write (.json)")
    w.add_argument("--name", default=None)
    w.add_argument("--description", default="")
    w.add_argument("--column", action="append", default=[], metavar="NAME=MEANING",
                   help="what a non-standard metadata column means (repeatable)")
    w.add_argument("--normalization", default=None, help="e.g. 'l2 per row' or 'none'")

    nm = dsub.add_parser("nemo-metadata", help="metadata .csv for a NeMo manifest, with ids as NeMo's .pkl keys them")
    nm.add_argument("nemo_manifest", help="the JSON-lines manifest given to extract_speaker_embeddings.py")
    nm.add_argument("--out", required=True, help="the metadata .csv to write")

    au = sub.add_parser("audio", help="from audio to embeddings: demo corpus, 4-8 s segments, NeMo extraction")
    asub = au.add_subparsers(dest="audio_command", required=True)
    dm = asub.add_parser("demo", help="generate the offline demo corpus (espeak-ng speech, hold music, sox telephony)")
    dm.add_argument("--out", required=True, help="folder for audio/ and recordings.json (a NeMo manifest)")
    dm.add_argument("--profile", choices=["quick", "full"], default="quick")
    dm.add_argument("--seed", type=_seed, default=0)
    dm.add_argument("--quiet", action="store_true")
    sg = asub.add_parser("segment", help="cut recordings into 4-8 s non-silent segments (a NeMo manifest)")
    sg.add_argument("nemo_manifest", help="NeMo manifest of recordings (JSON lines)")
    sg.add_argument("--out", required=True, help="the segment manifest to write")
    sg.add_argument("--method", choices=["energy", "silero"], default="energy",
                    help="energy: SoX's silence rule, keeps music (default); silero: speech only")
    sg.add_argument("--min-len", type=_positive, default=4.0)
    sg.add_argument("--max-len", type=_positive, default=8.0)
    sg.add_argument("--quiet", action="store_true")
    ex = asub.add_parser("extract", help="embed a NeMo manifest's clips: embeddings + metadata + data manifest")
    ex.add_argument("nemo_manifest")
    ex.add_argument("--out", required=True, help="output folder (embeddings.npy, metadata.csv, manifest.json, skipped.csv)")
    ex.add_argument("--model", default="random:titanet-small",
                    help="a .nemo file, a NeMo pretrained name, random:titanet-small|titanet-large, or resemblyzer")
    ex.add_argument("--batch-size", type=_count, default=16,
                    help="clips decoded together, and per forward pass on a GPU (a CPU embeds one clip at a time)")
    ex.add_argument("--min-duration", type=_seconds, default=0.5, help="shorter rows are skipped, with the reason recorded")
    ex.add_argument("--normalization", choices=["none", "l2", "nemo"], default="none")
    ex.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    ex.add_argument("--name", default=None)
    ex.add_argument("--seed", type=_seed, default=0, help="for random:* models")
    ex.add_argument("--engine", choices=["local", "ray"], default="local",
                    help="local: in this process; ray: Ray Data batch inference, a pool of actors each holding the "
                         "model (needs ray[data]); the same files either way")
    ex.add_argument("--address", default=None, help="--engine ray: a running cluster (ray start --head prints it; "
                                                    "auto finds a local one); default: start one here")
    ex.add_argument("--workers", type=_count, default=None, help="--engine ray: embedding actors (default 2)")
    ex.add_argument("--gpus-per-worker", type=_seconds, default=None,
                    help="--engine ray: GPUs per actor (default 0: CPU actors)")
    ex.add_argument("--quiet", action="store_true")

    def study_arguments(parser):
        parser.add_argument("--study", default=None,
                            help="the study file (default: studies/paper-<profile>.yml); see 'study keys'")
        parser.add_argument("--profile", choices=["quick", "full"], default="full",
                            help="without --study: the paper's study on the embedded default, full or quick (5 %%)")
        parser.add_argument("--output-dir", default=None, help="default: out/<study name>")
        parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                            help="override a study key (grid.ks, or a field name such as ks or bootstrap); VALUE is "
                                 "JSON where it parses (e.g. -p ks '[5,20]'); checked before anything runs")
        parser.add_argument("--quiet", action="store_true")

    nb = sub.add_parser("notebooks", help="run the chapters' notebooks (jupytext -> papermill) in order")
    study_arguments(nb)
    nb.add_argument("--only", default=None, help="comma-separated notebook names (default: all, in order)")
    bk = sub.add_parser("book", help="build the Jupyter Book: data, notebooks (skipped when unchanged), HTML; "
                                     "or 'book diff OLD_DIR NEW_DIR': what changed between two builds")
    study_arguments(bk)
    bk.add_argument("action", nargs="?", choices=["build", "diff"], default="build",
                    help="build (default), or diff OLD_DIR NEW_DIR: every table number that moved between two builds")
    bk.add_argument("builds", nargs="*", metavar="DIR", help="for diff: the old and the new build folder (out/<study>)")
    bk.add_argument("--tolerance", type=float, default=1e-6,
                    help="for diff: a number moved when |new - old| > tolerance x max(1, |old|)")
    bk.add_argument("--fail-on-change", action="store_true", help="for diff: exit 1 when anything changed")

    st = sub.add_parser("study", help="study files: list every key, check one, or write a starting one")
    ssub = st.add_subparsers(dest="study_command", required=True)
    ssub.add_parser("keys", help="every key a study file (or -p) may set, with its type and default")
    sc = ssub.add_parser("check", help="check a study file (and overrides); print it as the notebooks will read it")
    sc.add_argument("study")
    sc.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    si = ssub.add_parser("init", help="write a starting study file from your data manifests, saying what it chose")
    si.add_argument("--out", required=True, help="the study file to write (.yml)")
    si.add_argument("--train", required=True, help="the SAE training set's data manifest (role sae_train)")
    si.add_argument("--labelled", action="append", default=[], metavar="MANIFEST",
                    help="a labelled set's manifest (repeatable; role: its file stem); default: the training "
                         "set when it has a split column with train and test rows")
    si.add_argument("--sources", default=None, help="the voicesae checkout (notebooks/); default: the current folder")
    si.add_argument("--name", default=None, help="the study's name (default: the --out file's stem)")
    si.add_argument("--force", action="store_true", help="replace an existing --out")

    args = ap.parse_args(argv)
    if getattr(args, "name", None) is not None and not args.name.strip():
        ap.error("argument --name: empty")  # it would fall back to the default name without a word
    try:
        if args.command == "train-grid":
            from .sae import distributed
            from .sae.trainer import train_grid

            # Under torchrun (--nproc-per-node N) each process trains a share of the grid; one writes.
            distributed.init_from_env(args.device)
            first = distributed.rank_and_world()[0] == 0

            configs = expand_grid(args.latent_dims, args.ks, [a.strip() for a in args.activations.split(",")], args.seeds)
            train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, data_seed=args.data_seed,
                                checkpoint_every_steps=args.checkpoint_every, device=args.device)
            from .files import check_output

            check_output(args.out, [args.data, args.eval_data], "--out", kind="folder")
            eval_data = load_embeddings(args.eval_data) if args.eval_data else None
            result = train_grid(load_embeddings(args.data), configs, train, out_dir=args.out, eval_data=eval_data,
                                quiet=args.quiet)
            for row in result.table if first else ():  # said even with --quiet: an unfinished model must not pass unnoticed
                if not row["converged"]:
                    print(f"warning: {row['name']} did not converge: {row['convergence']}", file=sys.stderr)
            if first:
                print(result.out_dir / "results.csv")
        elif args.command == "sae":
            from . import formats

            if args.sae_command == "export":
                print(formats.export_sae(args.model, args.format, args.out))
            else:
                print(formats.import_sae(args.path, args.out, k=args.k))
        elif args.command == "data":
            return _data(args)
        elif args.command == "audio":
            return _audio(args)
        elif args.command == "book" and args.action == "diff":
            from .report import diff

            if len(args.builds) != 2:
                raise VoicesaeError(f"book diff: expected two build folders (OLD_DIR NEW_DIR), got {len(args.builds)}")
            d = diff.compare(*args.builds, tolerance=args.tolerance)
            print(diff.report(d, *args.builds, tolerance=args.tolerance), end="")
            return 1 if args.fail_on_change and d.changed else 0
        elif args.command == "book":
            from .report import book, pipeline

            if args.builds:
                raise VoicesaeError(f"book: unexpected argument(s) {args.builds} (book diff OLD_DIR NEW_DIR compares builds)")
            study_path = args.study or f"studies/paper-{args.profile}.yml"
            print(book.build(study_path, args.output_dir, pipeline.parse_parameters(args.parameter), quiet=args.quiet))
        elif args.command == "notebooks":
            from .report import pipeline, study

            study_path = args.study or f"studies/paper-{args.profile}.yml"
            out = args.output_dir or f"out/{study.load(study_path).name}"
            names = args.only.split(",") if args.only else None
            for path in pipeline.run(study_path, out, pipeline.parse_parameters(args.parameter), names,
                                     quiet=args.quiet):
                print(path)
        elif args.command == "study":
            return _study(args)
        else:
            from .sae.metrics import evaluate
            from .sae.model import SparseAutoencoder
            from .arrays import as_data

            from .device import resolve

            sae = SparseAutoencoder.load(args.model, resolve(args.device, "--device"))
            print(json.dumps(evaluate(sae, as_data(load_embeddings(args.data), args.data)).summary(), indent=2))
    except VoicesaeError as err:
        print("error: " + " ".join(str(err).split()), file=sys.stderr)  # one line, whatever a library said
        return 2
    return 0


def _study(args) -> int:
    from .report import checked, pipeline, study
    if args.study_command == "init":
        from .report import study_init
        proposal = study_init.init(args.out, args.train, args.labelled, args.sources, args.name, args.force)
        print("\n".join(proposal.notes))
        print(f"wrote {args.out}; check it with: python -m voicesae_core study check {args.out}")
    elif args.study_command == "keys":
        for k in study.keys():
            default = "required" if k.default is checked.REQUIRED else f"default {k.default!r}"
            print(f"{k.name}: {k.type} ({default}){': ' + k.doc if k.doc else ''}")
    else:
        import yaml
        s = study.load(args.study, pipeline.parse_parameters(args.parameter))
        pipeline.check_data(s)
        print(yaml.safe_dump(s.to_dict(), sort_keys=False), end="")
    return 0


def _data(args) -> int:
    from .data import manifest, synthetic
    if args.data_command == "generate":
        scale = args.scale if args.scale is not None else synthetic.PROFILES[args.profile]
        data_dir = args.data_dir or f"data/synthetic/{args.profile}"
        manifest_dir = args.manifest_dir or f"data_manifests/synthetic-{args.profile}"
        command = f"python -m voicesae_core data generate --profile {args.profile}" + (
            f" --scale {args.scale}" if args.scale is not None else "") + f" --seed {args.seed}"
        for p in synthetic.build(data_dir, manifest_dir, scale, args.seed, name=f"synthetic-{args.profile}",
                                 quiet=args.quiet, command=command):
            print(p)
    elif args.data_command == "nemo-metadata":
        from .audio import nemo_manifest
        print(nemo_manifest.to_metadata(args.nemo_manifest, args.out))
    elif args.data_command == "validate":
        for m in args.manifests:
            print(manifest.validate(m))
    else:
        columns = {}
        for item in args.column:
            name, sep, meaning = item.partition("=")
            if not sep:
                raise VoicesaeError(f"--column {item!r}: expected NAME=MEANING")
            columns[name] = meaning
        header = manifest.read_metadata(Path(args.metadata), manifest._format_of(Path(args.metadata), "metadata")) \
            if columns and Path(args.metadata).is_file() else None
        absent = [c for c in columns if header is not None and c not in header.columns]
        if absent:
            raise VoicesaeError(f"--column {absent[0]}={columns[absent[0]]}: {args.metadata} has no column "
                                f"{absent[0]!r} (columns: {list(header.columns)})")
        out = manifest.write_manifest(args.out, args.embeddings, args.metadata, name=args.name or Path(args.out).stem,
                                      description=args.description, command="python -m voicesae_core data manifest",
                                      columns=columns, normalization=args.normalization)
        print(manifest.validate(out))
    return 0


def _audio(args) -> int:
    if args.audio_command == "demo":
        from .audio import demo_corpus
        print(demo_corpus.generate(args.out, args.profile, args.seed, quiet=args.quiet))
    elif args.audio_command == "segment":
        from .audio import segments
        r = segments.segment(args.nemo_manifest, args.out, args.method, args.min_len, args.max_len, quiet=args.quiet)
        print(f"{r.segments} segments ({r.seconds:.1f} s of audio); {len(r.skipped)} recordings gave none "
              f"(see {r.manifest}.skipped.csv)", file=sys.stderr)
        print(r.manifest)
    else:
        from .audio import extract
        cluster = None
        ray_only = {"--address": args.address, "--workers": args.workers, "--gpus-per-worker": args.gpus_per_worker}
        if args.engine == "ray":
            from .audio.ray_engine import RayOptions
            if args.device != "auto":
                raise VoicesaeError(f"--device {args.device}: with --engine ray the workers' device is set by "
                                    "--gpus-per-worker (0: CPUs)")
            cluster = RayOptions(args.address, args.workers or 2, args.gpus_per_worker or 0.0)
        elif any(v is not None for v in ray_only.values()):  # never silently ignored
            given = [k for k, v in ray_only.items() if v is not None]
            raise VoicesaeError(f"{', '.join(given)}: only for --engine ray (this run's engine is local)")
        r = extract.extract(args.nemo_manifest, args.out, args.model, name=args.name, batch_size=args.batch_size,
                            min_duration=args.min_duration, normalization=args.normalization, device=args.device,
                            seed=args.seed, quiet=args.quiet, cluster=cluster)
        print(r.summary(), file=sys.stderr)
        print(r.manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
