"""Training curves and the convergence verdict: judged by hand, recorded by the trainer (the same
after a resume), saved with the model, and said where the model's numbers are shown."""
import numpy as np
import pytest

from voicesae_core import SAEConfig, SparseAutoencoder, TrainConfig, train_grid
from voicesae_core.sae import convergence


def test_judge_by_hand():
    flat = np.r_[np.linspace(0.9, 0.3, 30), np.full(20, 0.3)]
    v = convergence.judge(np.arange(1, 51) * 10, flat, total_steps=500, dead_frac=0.0)
    assert v.converged and v.reasons == [] and v.final_fvu == pytest.approx(0.3) and v.last_drop == pytest.approx(0)
    falling = np.linspace(0.9, 0.3, 50)
    v = convergence.judge(np.arange(1, 51) * 10, falling, 500, 0.0)
    assert not v.converged and v.reasons == ["still falling: FVU 0.478 -> 0.355 from the fourth to the last fifth of training"]
    assert v.last_drop == pytest.approx(1 - 0.355102 / 0.477551, abs=1e-4)
    v = convergence.judge([1, 2], [0.9, 0.8], 2, 0.5)
    assert v.reasons == ["too few steps: 2 optimizer steps (fewer than 100)",
                         "still falling: FVU 0.900 -> 0.800 from the fourth to the last fifth of training",
                         "many dead latents: 50.0 % fired on no sample of the last epoch (more than 20 %)"]
    assert not convergence.judge([100, 200], [np.nan, 0.1], 200, 0.0).converged
    # near FVU 0 a 20 % relative drop of 0.002 is not "still falling"; the same drop from 0.9 is
    near_zero = np.r_[np.full(40, 0.010), np.full(10, 0.008)]
    assert convergence.judge(np.arange(1, 51) * 10, near_zero, 500, 0.0).converged
    assert not convergence.judge(np.arange(1, 51) * 10, near_zero * 90, 500, 0.0).converged
    assert convergence.window(537) == 10 and convergence.window(3) == 1


def test_the_trainer_records_a_curve_per_model_and_judges_it(data, tmp_path):
    x = data[:2000]
    short = train_grid(x, [SAEConfig(32, 4)], TrainConfig(epochs=1, batch_size=4096), quiet=True)
    assert not short.table[0]["converged"] and short.table[0]["train_steps"] == 1
    assert "too few steps" in short.table[0]["convergence"]
    long = train_grid(x, [SAEConfig(32, 4), SAEConfig(48, 8)], TrainConfig(epochs=60, batch_size=200), quiet=True,
                      out_dir=tmp_path / "g")
    for row, sae in zip(long.table, long.models):
        curve = sae.info["curve"]
        assert row["train_steps"] == 600 and curve["step"] == list(range(12, 601, 12))
        assert curve["fvu"][-1] < curve["fvu"][0] and row["converged"], row["convergence"]
        assert sae.info["convergence"]["converged"] and convergence.of_model(sae).converged
    # saved with the model, and read back from it
    loaded = SparseAutoencoder.load(tmp_path / "g" / "models" / "L32_k4_topk_s0")
    assert loaded.info["curve"] == long.models[0].info["curve"] and convergence.warning([loaded]) == ""
    assert convergence.warning(short.models).startswith("**Warning: 1 of 1 SAEs used here did not converge**")
    assert "`L32_k4_topk_s0`: too few steps" in convergence.warning(short.models)


def test_dead_latents_are_judged_over_an_epoch_not_over_the_auxk_window(data):
    """On 150 rows at batch 16 the AuxK window (a tenth of an epoch) is one batch, so a latent that
    fires on a few rows looks dead there; the verdict counts only latents silent for a whole epoch,
    which agrees with their density on the training data."""
    x = data[:150]
    r = train_grid(x, [SAEConfig(60, 4), SAEConfig(600, 4, aux_coef=0)], TrainConfig(epochs=100, batch_size=16),
                   quiet=True)
    alive, dead = r.table
    assert alive["dead_frac_train"] > 0.2 and alive["dead_frac_epoch"] == 0 and alive["dead_frac"] == 0
    assert alive["converged"], alive["convergence"]
    assert dead["dead_frac_epoch"] > 0.2 and abs(dead["dead_frac_epoch"] - dead["dead_frac"]) < 0.05
    assert "many dead latents" in dead["convergence"] and not dead["converged"]


KILLED_RUN = """
import sys
import numpy as np
from voicesae_core import SAEConfig, TrainConfig, train_grid
x = np.load(sys.argv[1])
train_grid(x, [SAEConfig(24, 4)], TrainConfig(epochs=400, batch_size=100, checkpoint_every_steps=7),
           out_dir=sys.argv[2], quiet=True)
"""


def test_a_run_killed_and_resumed_records_the_same_curve(data, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    x = data[:1000]
    np.save(tmp_path / "x.npy", x)
    whole = train_grid(x, [SAEConfig(24, 4)], TrainConfig(epochs=400, batch_size=100, checkpoint_every_steps=7),
                       quiet=True).models[0].info["curve"]
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(tmp_path / "x.npy"), str(out)])
    deadline = time.time() + 120
    while not (out / "checkpoint.safetensors").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed: make it longer"
    resumed = train_grid(x, [SAEConfig(24, 4)], TrainConfig(epochs=400, batch_size=100, checkpoint_every_steps=7),
                         out_dir=out, quiet=True).models[0].info["curve"]
    # the steps are the same; the FVUs to rounding: a window's squared error is a parallel sum whose
    # last bit depends on the process's thread count (the weights themselves are bitwise equal,
    # tests/sae/test_trainer.py), and the killed run was another process
    assert resumed["step"] == whole["step"]
    np.testing.assert_allclose(resumed["fvu"], whole["fvu"], rtol=1e-12, atol=0)
