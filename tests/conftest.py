import os
from pathlib import Path

import numpy as np
import pytest

# The suite runs on the CPU unless VOICESAE_TEST_CUDA=1 (make gpu-check sets it): on a GPU machine
# device "auto" would otherwise move every test, and the notebooks they execute, to CUDA. Set before
# torch first looks for a GPU; the notebooks' kernels inherit it.
if os.environ.get("VOICESAE_TEST_CUDA") != "1":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""


READS_THE_QUICK_BOOK = ("tests/report/test_book.py", "tests/report/test_pipeline.py")
"""The test files that use the ``quick_book`` fixture: one group under xdist, so it is built once."""
FIRST = ("quick_book", "tests/report/test_real_speech.py")
"""The two end-to-end groups (each minutes long): started first, one on each worker."""


def _file(nodeid: str) -> str:
    return nodeid.split("::")[0]


def _group(nodeid: str) -> str:
    return "quick_book" if _file(nodeid) in READS_THE_QUICK_BOOK else _file(nodeid)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` need a GPU and VOICESAE_TEST_CUDA=1; elsewhere they are skipped, said.
    The end-to-end groups are put first (see ``pytest_xdist_make_scheduler``)."""
    import torch
    if not (os.environ.get("VOICESAE_TEST_CUDA") == "1" and torch.cuda.is_available()):
        why = pytest.mark.skip(reason="needs a CUDA GPU and VOICESAE_TEST_CUDA=1 (make gpu-check)")
        for item in items:
            if "cuda" in item.keywords:
                item.add_marker(why)
    stray = sorted({_file(i.nodeid) for i in items if "quick_book" in i.fixturenames} - set(READS_THE_QUICK_BOOK))
    if stray:  # it would be built twice at once in the same folder under xdist
        raise pytest.UsageError(f"{', '.join(stray)} use(s) the quick_book fixture: add to READS_THE_QUICK_BOOK in tests/conftest.py")
    items.sort(key=lambda i: FIRST.index(_group(i.nodeid)) if _group(i.nodeid) in FIRST else len(FIRST))


def pytest_xdist_make_scheduler(config, log):
    """``make test`` runs the suite on pytest-xdist workers (``-n 2 --dist loadscope
    --no-loadscope-reorder``). Here a scope is a test file, so its module fixtures run once, except
    that the files reading the quick book share one, so it is built once; the scopes are handed out
    in collection order (not reordered by size), the two long ones first. (xdist's own
    ``loadgroup`` marks do not reach its scheduler under pytest 9.)"""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)
    return ByFile(config, log)


@pytest.fixture(scope="session", autouse=True)
def quick_data():
    """The quick default's data files (data/synthetic/quick), generated if absent before any test
    reads them. Under xdist the first worker here generates them; the other waits on the lock."""
    import fcntl
    from voicesae_core.report import pipeline, study
    lock = REPO / "data" / ".generating.lock"
    lock.parent.mkdir(exist_ok=True)
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            pipeline.ensure_data(study.load(QUICK_STUDY))
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)

REPO = Path(__file__).resolve().parents[1]
QUICK_STUDY = REPO / "studies" / "paper-quick.yml"
"""The paper's study on the embedded default at 5 % scale (what `make book PROFILE=quick` builds)."""
QUICK_BOOK = REPO / "out" / "paper-quick"
"""Where it is built (as `make book PROFILE=quick`), so a second run skips unchanged notebooks."""


@pytest.fixture(scope="session")
def quick_book():
    """The quick paper study's book, built once for the session (its notebooks executed once, read
    by tests/report/test_book.py in the browser and by test_pipeline.py against the core): its
    index.html. Tests that execute a notebook again do so in a folder of their own."""
    from voicesae_core.report import book
    return book.build(QUICK_STUDY, QUICK_BOOK, quiet=True)


def planted(n: int, d: int = 48, n_features: int = 96, p: float = 0.04, noise: float = 0.02, seed: int = 0):
    """Sparse superposed unit features plus noise, rows L2-normalised (like speaker embeddings)."""
    rng = np.random.default_rng(seed)
    feats = rng.standard_normal((n_features, d)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    acts = (rng.random((n, n_features)) < p) * rng.uniform(0.5, 1.5, (n, n_features))
    x = acts @ feats + noise * rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


@pytest.fixture(scope="session")
def data():
    return planted(3000)


@pytest.fixture(scope="session")
def quick(tmp_path_factory):
    """The synthetic benchmark's quick profile, generated afresh: {name: Dataset}."""
    from voicesae_core.data import manifest, synthetic
    d = tmp_path_factory.mktemp("quick")
    paths = synthetic.build(d, d, scale=synthetic.PROFILES["quick"], seed=0, quiet=True)
    return {p.stem: manifest.load(p) for p in paths}


@pytest.fixture(scope="session")
def quick_sae(quick):
    """A TopK SAE (latent 100, K 10) trained for 2 epochs on the quick SAE training set."""
    from voicesae_core import SAEConfig, TrainConfig, train_grid
    return train_grid(quick["sae_train"].embeddings, [SAEConfig(100, 10)], TrainConfig(epochs=2, batch_size=1024),
                      quiet=True).models[0]


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """The offline demo corpus (quick profile) and its 4-8 s segments: (recordings, segments) manifests."""
    from voicesae_core.audio import demo_corpus, segments
    d = tmp_path_factory.mktemp("demo")
    recordings = demo_corpus.generate(d, "quick", seed=0, quiet=True)
    return recordings, segments.segment(recordings, d / "segments.json", quiet=True).manifest


@pytest.fixture(scope="session")
def titanet():
    """TitaNet-S built from its configuration, random weights (seed 0)."""
    from voicesae_core.audio import speaker_model
    return speaker_model.load("random:titanet-small", seed=0)


def write_wav(path, x, sr=16000, subtype="PCM_16"):
    import soundfile as sf
    sf.write(str(path), x, sr, subtype=subtype)
    return path


def tone(seconds, sr=16000, freq=220.0, amp=0.5, seed=0):
    """A voiced-like test signal: a harmonic tone with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * freq * h * t) / h for h in (1, 2, 3)) + 0.05 * rng.standard_normal(len(t))
    return (amp * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """For tests/formats: (models by activation, x), a TopK, a ReLU and a BatchTopK SAE of ours
    trained on 1,200 random 24-d rows (input scale folded into the biases, as every saved model)."""
    import torch
    from voicesae_core import TrainConfig, expand_grid, train_grid
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(1200, 24, generator=g) @ torch.randn(24, 24, generator=g) + 2.0).numpy()
    configs = expand_grid([48], [6], ["topk", "relu", "batchtopk"])
    result = train_grid(x, configs, TrainConfig(epochs=3, batch_size=100), out_dir=tmp_path_factory.mktemp("grid"),
                        quiet=True)
    return {m.cfg.activation: m for m in result.models}, torch.from_numpy(x)
