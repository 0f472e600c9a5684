import numpy as np
import pytest


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
