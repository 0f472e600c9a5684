"""Grid training: learning works, grid == alone, determinism, resume after a kill, bad input."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from voicesae_core import SAEConfig, TrainConfig, VoicesaeError, expand_grid, train_grid
from voicesae_core.sae.trainer import CHECKPOINT

FAST = TrainConfig(epochs=2, batch_size=256)
BACKENDS = [pytest.param(("numba", "cpu"), id="numba-cpu"), pytest.param(("torch", "cpu"), id="torch-cpu"),
            pytest.param(("torch", "cuda"), id="torch-cuda", marks=pytest.mark.cuda)]
"""Each bitwise promise is kept by both back ends, and on a GPU (make gpu-check runs the cuda ones)."""


def params(sae):
    return [sae.W_enc, sae.b_lat, sae.W_dec, sae.b_pre, sae.threshold]


def assert_same_models(a, b, atol=0.0):
    for ma, mb in zip(a, b):
        for pa, pb in zip(params(ma), params(mb)):
            pa, pb = pa.cpu(), pb.cpu()  # models from a GPU run are compared on the host
            if atol == 0.0:
                assert torch.equal(pa, pb), ma.cfg.name
            else:
                assert torch.allclose(pa, pb, atol=atol, rtol=0), ma.cfg.name


def test_training_learns_and_respects_constraints(data):
    cfgs = expand_grid([64, 128], [4, 8]) + [SAEConfig(128, 8, "batchtopk"), SAEConfig(96, activation="relu", l1_coef=1e-3)]
    res = train_grid(data, cfgs, TrainConfig(epochs=4, batch_size=256), quiet=True)
    assert [r["name"] for r in res.table] == [c.name for c in cfgs]
    for sae, row in zip(res.models, res.table):
        assert row["fvu"] < 0.6, row  # far below the mean predictor's 1.0
        norms = sae.W_dec.norm(dim=1)
        assert torch.allclose(norms, torch.ones_like(norms), atol=1e-6)  # unit-norm decoder rows
        if sae.cfg.activation == "topk":
            assert row["l0"] <= sae.cfg.k
    by_name = {r["name"]: r for r in res.table}
    assert by_name["L128_k8_topk_s0"]["fvu"] < by_name["L128_k4_topk_s0"]["fvu"]  # more active latents, better fit


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_model_in_grid_equals_it_trained_alone(data, backend):
    cfgs = expand_grid([32, 80], [3, 9], ["topk", "batchtopk"], seeds=[0, 1])
    train = TrainConfig(epochs=2, batch_size=256, backend=backend[0], device=backend[1])
    grid = train_grid(data, cfgs, train, quiet=True)
    for i in (0, 5, len(cfgs) - 1):
        alone = train_grid(data, [cfgs[i]], train, quiet=True)
        assert_same_models([grid.models[i]], alone.models)
        assert alone.table[0]["fvu"] == grid.table[i]["fvu"]


def test_worker_threads_change_nothing(data):
    cfgs = expand_grid([32, 80], [3, 9]) + [SAEConfig(40, activation="relu")]
    threads = torch.get_num_threads()
    one = train_grid(data, cfgs, TrainConfig(epochs=1, batch_size=256, workers=1), quiet=True)
    three = train_grid(data, cfgs, TrainConfig(epochs=1, batch_size=256, workers=3), quiet=True)
    assert_same_models(one.models, three.models)
    assert torch.get_num_threads() == threads  # restored after training


@pytest.mark.parametrize("backend", BACKENDS)
def test_deterministic_and_seed_matters(data, backend):
    cfgs = [SAEConfig(48, 5, seed=0), SAEConfig(48, 5, seed=1), SAEConfig(48, activation="relu")]
    train = TrainConfig(epochs=2, batch_size=256, backend=backend[0], device=backend[1])
    a = train_grid(data, cfgs, train, quiet=True)
    b = train_grid(data, cfgs, train, quiet=True)
    assert_same_models(a.models, b.models)
    assert not torch.equal(a.models[0].W_dec, a.models[1].W_dec)


def test_torch_backend_matches_numba(data):
    cfgs = [SAEConfig(48, 5), SAEConfig(48, 5, "batchtopk")]
    a = train_grid(data, cfgs, TrainConfig(epochs=1, batch_size=256, backend="numba"), quiet=True)
    b = train_grid(data, cfgs, TrainConfig(epochs=1, batch_size=256, backend="torch"), quiet=True)
    assert_same_models(a.models, b.models, atol=2e-4)


def test_auxk_revives_dead_latents(data):
    # Give 64 of 128 latents a head start (b_lat + 0.5): the other 64 lose every TopK race and
    # die. Only AuxK's gradient reaches them directly, so with it more of them come back.
    from voicesae_core.sae.trainer import GridMember
    x = torch.from_numpy(data)
    still_dead = {}
    for aux in (1 / 32, 0.0):
        cfg = SAEConfig(128, 4, aux_coef=aux, dead_after_samples=1000).resolved(x.shape[1], len(x))
        m = GridMember(cfg, x.mean(0), 1.0, TrainConfig(), torch.device("cpu"), "numba")
        with torch.no_grad():
            m.sae.b_lat[64:] = 0.5
        for _ in range(6):
            for s in range(0, len(x), 250):
                m.step(x[s:s + 250])
        assert not m.dead()[64:].any()
        still_dead[aux] = int(m.dead()[:64].sum())
    assert still_dead[0.0] > 10
    assert still_dead[1 / 32] < still_dead[0.0] / 1.5


def test_relu_dead_latents_are_counted(data):
    # The paper dropped ReLU + L1 for its dead latents, so ReLU models must count them too:
    # latents whose bias keeps them below zero never fire and must be reported dead.
    from voicesae_core.sae.trainer import GridMember
    x = torch.from_numpy(data)
    cfg = SAEConfig(64, activation="relu", dead_after_samples=1000).resolved(x.shape[1], len(x))
    m = GridMember(cfg, x.mean(0), 1.0, TrainConfig(), torch.device("cpu"), "numba")
    with torch.no_grad():
        m.sae.b_lat[:16] = -100.0
    for s in range(0, len(x), 250):
        m.step(x[s:s + 250])
    assert m.dead()[:16].all() and not m.dead()[16:].all()


def test_outputs_written_and_rerun_skips_training(data, tmp_path):
    cfgs = expand_grid([32], [3, 6])
    res = train_grid(data, cfgs, FAST, out_dir=tmp_path, quiet=True)
    assert (tmp_path / "results.csv").read_text().count("\n") == 3
    for c in cfgs:
        assert (tmp_path / "models" / c.name / "model.safetensors").is_file()
    assert not [p for p in tmp_path.rglob("*.tmp")]  # no temp files left behind
    mtime = (tmp_path / CHECKPOINT).stat().st_mtime_ns
    again = train_grid(data, cfgs, FAST, out_dir=tmp_path, quiet=True)
    assert (tmp_path / CHECKPOINT).stat().st_mtime_ns == mtime  # done: loaded, not retrained
    assert_same_models(res.models, again.models)


def test_a_finished_grid_loaded_again_is_not_evaluated_again(data, tmp_path, monkeypatch):
    from voicesae_core.sae import trainer
    cfgs = expand_grid([32], [3, 6])
    first = train_grid(data, cfgs, FAST, out_dir=tmp_path, quiet=True)
    calls = []
    monkeypatch.setattr(trainer, "evaluate_checked", lambda *a, **k: calls.append(a) or pytest.fail("evaluated again"))
    again = train_grid(data, cfgs, FAST, out_dir=tmp_path, quiet=True)
    assert again.table == first.table and calls == []
    # Other evaluation data: the saved metrics do not apply, so the models are evaluated on it.
    monkeypatch.undo()
    other = train_grid(data, cfgs, FAST, out_dir=tmp_path, eval_data=data[::2], quiet=True)
    assert [r["fvu"] for r in other.table] != [r["fvu"] for r in first.table]
    assert all(r["eval_set"] == "eval_data" for r in other.table)



def test_models_of_a_finished_grid_are_reused_only_when_trained_the_same_way(data, tmp_path, monkeypatch):
    from voicesae_core.sae import trainer
    grid = train_grid(data, expand_grid([32, 48], [3, 6]), FAST, out_dir=tmp_path / "grid", quiet=True)
    stepped = []
    original = trainer.GridMember.step
    monkeypatch.setattr(trainer.GridMember, "step", lambda self, x: stepped.append(self.cfg.name) or original(self, x))
    wanted = expand_grid([32], [3, 6], seeds=[0, 1])  # seed 0 is in the grid, seed 1 is not
    res = train_grid(data, wanted, FAST, out_dir=tmp_path / "seeds", quiet=True, reuse_from=[tmp_path / "grid"])
    assert set(stepped) == {c.name for c in wanted if c.seed == 1}  # only the new seeds trained
    alone = train_grid(data, wanted, FAST, quiet=True)
    assert_same_models(res.models, alone.models)  # what reuse gives is what training gives
    assert [r["name"] for r in res.table] == [c.name for c in wanted]
    for mine, theirs in zip(res.table, alone.table):
        assert mine == theirs
    same = {r["name"]: r for r in grid.table}
    assert res.table[0] == same[wanted[0].name]
    assert (tmp_path / "seeds" / "models" / wanted[0].name / "model.safetensors").is_file()
    # Other training settings, other data, or a trainer whose rounding differs: nothing is reused.
    for kwargs in ({"train": TrainConfig(epochs=FAST.epochs + 1, batch_size=FAST.batch_size)}, {"x": data[1:]},
                   {"numerics": trainer.NUMERICS + 1}):
        stepped.clear()
        monkeypatch.setattr(trainer, "NUMERICS", kwargs.get("numerics", trainer.NUMERICS))
        train_grid(kwargs.get("x", data), wanted[:1], kwargs.get("train", FAST), quiet=True, reuse_from=[tmp_path / "grid"])
        assert stepped, kwargs


KILLED_RUN = textwrap.dedent("""
    import sys, numpy as np
    from voicesae_core import TrainConfig, expand_grid, train_grid
    x = np.load(sys.argv[1])
    train_grid(x, expand_grid([32, 64], [3, 6]), TrainConfig(epochs=40, batch_size=64, checkpoint_every_steps=5,
                                                             backend=sys.argv[3], device=sys.argv[4]),
               out_dir=sys.argv[2], quiet=True)
""")


@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_after_kill_equals_uninterrupted(data, tmp_path, backend):
    x = data[:1000]
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(tmp_path / "x.npy"), str(out), *backend])
    deadline = time.time() + 120
    while not (out / CHECKPOINT).exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(1.0)  # let it run on past a few more checkpoints
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed: make it longer"
    assert not (out / "results.csv").exists()
    train = TrainConfig(epochs=40, batch_size=64, checkpoint_every_steps=5, backend=backend[0], device=backend[1])
    cfgs = expand_grid([32, 64], [3, 6])
    resumed = train_grid(x, cfgs, train, out_dir=out, quiet=True)
    fresh = train_grid(x, cfgs, train, quiet=True)
    assert_same_models(resumed.models, fresh.models)


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("bad, message", [
    (np.zeros((0, 8), np.float32), "empty"),
    (np.zeros(8, np.float32), "2-D"),
    ("not numbers", "not a numeric array"),
])
def test_bad_data_is_refused(bad, message):
    with pytest.raises(VoicesaeError, match=message):
        train_grid(bad, [SAEConfig(8, 2)], quiet=True)


def test_nan_row_named(data):
    x = data[:100].copy()
    x[37, 5] = np.nan
    with pytest.raises(VoicesaeError, match=r"row 37, dimension 5 is nan"):
        train_grid(x, [SAEConfig(16, 2)], quiet=True)
    x[37, 5] = np.inf
    with pytest.raises(VoicesaeError, match=r"row 37, dimension 5 is inf"):
        train_grid(x, [SAEConfig(16, 2)], quiet=True)


def test_bad_configs_refused(data):
    with pytest.raises(VoicesaeError, match="K=40 must be between 1 and latent_dim=16"):
        SAEConfig(16, 40)
    with pytest.raises(VoicesaeError, match="unknown activation 'gelu'"):
        SAEConfig(16, 2, "gelu")
    with pytest.raises(VoicesaeError, match="expects inputs of dimension 192, data has 48"):
        train_grid(data, [SAEConfig(16, 2, d_in=192)], quiet=True)
    with pytest.raises(VoicesaeError, match="empty"):
        train_grid(data, [], quiet=True)
    with pytest.raises(VoicesaeError, match="duplicate"):
        train_grid(data, [SAEConfig(16, 2), SAEConfig(16, 2)], quiet=True)
    with pytest.raises(VoicesaeError, match="dimension 10 differs"):
        train_grid(data, [SAEConfig(16, 2)], eval_data=np.ones((5, 10), np.float32), quiet=True)


def test_corrupt_and_foreign_checkpoints_refused(data, tmp_path):
    cfgs = [SAEConfig(16, 2)]
    train_grid(data[:500], cfgs, FAST, out_dir=tmp_path, quiet=True)
    with pytest.raises(VoicesaeError, match="checkpoint is for different data_sha256"):
        train_grid(data[500:1000], cfgs, FAST, out_dir=tmp_path, quiet=True)
    with pytest.raises(VoicesaeError, match="checkpoint is for different configs"):
        train_grid(data[:500], [SAEConfig(16, 3)], FAST, out_dir=tmp_path, quiet=True)
    (tmp_path / CHECKPOINT).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00garbage")
    with pytest.raises(VoicesaeError, match="corrupt or not a checkpoint"):
        train_grid(data[:500], cfgs, FAST, out_dir=tmp_path, quiet=True)
    from safetensors.torch import save_file
    save_file({"a": torch.zeros(2)}, str(tmp_path / CHECKPOINT), metadata={"state": '{"format": "other"}'})
    with pytest.raises(VoicesaeError, match="not a voicesae grid checkpoint"):
        train_grid(data[:500], cfgs, FAST, out_dir=tmp_path, quiet=True)


def test_load_grid_returns_the_models_and_names_every_missing_one(tmp_path, data):
    from voicesae_core.sae.trainer import load_grid
    configs = expand_grid([32, 48], [4])
    result = train_grid(data[:512], configs, TrainConfig(epochs=1, batch_size=256), out_dir=tmp_path, quiet=True)
    loaded = load_grid(tmp_path, list(reversed(configs)))
    assert [m.cfg.name for m in loaded] == [c.name for c in reversed(configs)]
    assert torch.equal(loaded[1].W_dec, result.models[0].W_dec)
    wanted = expand_grid([32, 48, 64], [4, 8])
    with pytest.raises(VoicesaeError, match=r"no trained model for 4 of the 6 grid configurations: "
                                            r"\['L32_k8_topk_s0', 'L48_k8_topk_s0', 'L64_k4_topk_s0', 'L64_k8_topk_s0'\]"):
        load_grid(tmp_path, wanted)
    (tmp_path / "models" / "L48_k4_topk_s0").rename(tmp_path / "models" / "tmp")
    (tmp_path / "models" / "L32_k4_topk_s0").rename(tmp_path / "models" / "L48_k4_topk_s0")
    with pytest.raises(VoicesaeError, match="holds L32_k4_topk_s0, not L48_k4_topk_s0"):
        load_grid(tmp_path, [configs[1]])


def test_replace_stale_retrains_a_grid_trained_with_other_settings(data, tmp_path, capsys):
    """The notebooks' case: a study edit (another budget) in the book's own folder retrains, says so,
    and leaves no model of the old grid behind; the result equals a fresh run."""
    train_grid(data[:500], [SAEConfig(16, 2), SAEConfig(16, 4)], FAST, out_dir=tmp_path, quiet=True)
    other = TrainConfig(epochs=3, batch_size=FAST.batch_size)
    r = train_grid(data[:500], [SAEConfig(16, 2)], other, out_dir=tmp_path, quiet=True, replace_stale=True)
    assert "checkpoint is for different configs, train: replaced, the grid is trained afresh" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["L16_k2_topk_s0"]
    fresh = train_grid(data[:500], [SAEConfig(16, 2)], other, quiet=True)
    assert torch.equal(r.models[0].W_dec, fresh.models[0].W_dec)
    again = train_grid(data[:500], [SAEConfig(16, 2)], other, out_dir=tmp_path, quiet=True, replace_stale=True)
    assert capsys.readouterr().err == "" and torch.equal(again.models[0].W_dec, fresh.models[0].W_dec)  # reused


@pytest.mark.parametrize("activation, backend", [("topk", "numba"), ("relu", "numba"), ("topk", "torch")])
def test_a_loss_that_becomes_nan_stops_training_naming_the_model_and_step(data, tmp_path, activation, backend):
    bad = SAEConfig(64, 4, activation, seed=1, lr=1e30)
    configs = [SAEConfig(64, 4), bad]
    with pytest.raises(VoicesaeError, match=rf"SAE {bad.name}: the loss became (nan|inf) at optimizer step \d+ "
                                            r"\(epoch \d\); .*\(learning rate 1e\+30"):
        train_grid(data[:600], configs, TrainConfig(epochs=2, batch_size=100, backend=backend), out_dir=tmp_path / "g",
                   quiet=True)
    assert not (tmp_path / "g" / "models").exists() and not (tmp_path / "g" / "results.csv").exists()


def test_constant_data_and_one_row_are_refused_before_training(data):
    for x, said in ((np.ones((50, 8), np.float32), "all 50 rows are the same"), (data[:1], "one row")):
        with pytest.raises(VoicesaeError, match=f"training data: {said}"):
            train_grid(x, [SAEConfig(8, 2)], quiet=True)


def test_load_grid_refuses_models_trained_on_other_data(data, tmp_path):
    from voicesae_core.sae.trainer import load_grid
    configs = [SAEConfig(32, 4)]
    train_grid(data[:400], configs, TrainConfig(batch_size=100), out_dir=tmp_path, quiet=True)
    assert len(load_grid(tmp_path, configs, data[:400])) == 1
    with pytest.raises(VoicesaeError, match=r"L32_k4_topk_s0: trained on other data"):
        load_grid(tmp_path, configs, data[:401])
    with pytest.raises(VoicesaeError, match=r"trained on 48-dimensional embeddings, the study's training set has 16"):
        load_grid(tmp_path, configs, data[:400, :16])
    sae = load_grid(tmp_path, configs)[0]
    with pytest.raises(VoicesaeError, match=r"SAE L32_k4_topk_s0: trained on 48-dimensional embeddings, given 16"):
        sae.encode(torch.from_numpy(data[:5, :16]))


# ----------------------------------------------------------------------------- on a GPU (make gpu-check)

@pytest.mark.cuda
def test_cuda_training_is_within_float32_rounding_of_the_cpu(data):
    cfgs = expand_grid([32, 80], [3, 9], ["topk", "batchtopk"]) + [SAEConfig(40, activation="relu")]
    cpu = train_grid(data, cfgs, TrainConfig(epochs=1, batch_size=256, device="cpu"), quiet=True)
    gpu = train_grid(data, cfgs, TrainConfig(epochs=1, batch_size=256, device="cuda"), quiet=True)
    assert all(m.W_dec.device.type == "cuda" for m in gpu.models)
    # One Adam step moves a weight by about lr (3e-3 here) whatever its gradient's size, so a
    # near-zero gradient whose sign rounds the other way on the GPU can leave a few lr between them.
    assert_same_models(cpu.models, gpu.models, atol=1e-2)
    for a, b in zip(cpu.table, gpu.table):
        assert abs(a["fvu"] - b["fvu"]) < 1e-3, a["name"]


@pytest.mark.cuda
def test_cuda_training_runs_under_pytorchs_deterministic_mode(data):
    # PyTorch refuses, in this mode, every CUDA op it knows to be nondeterministic.
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        cfgs = expand_grid([32], [3], ["topk", "batchtopk", "relu"])
        train_grid(data[:1000], cfgs, TrainConfig(epochs=1, batch_size=100, device="cuda"), quiet=True)
    finally:
        torch.use_deterministic_algorithms(before)


def test_a_finished_run_loaded_again_writes_the_same_table(data, tmp_path):
    """The metrics saved with the models come back in the table's column order (cfg.json sorts keys)."""
    configs = expand_grid([16, 32], [4])
    train_grid(data[:600], configs, TrainConfig(epochs=1, batch_size=100), out_dir=tmp_path, quiet=True)
    table = (tmp_path / "results.csv").read_bytes()
    (tmp_path / "results.csv").unlink()  # as a run killed after saving its models but before its table
    train_grid(data[:600], configs, TrainConfig(epochs=1, batch_size=100), out_dir=tmp_path, quiet=True)
    assert (tmp_path / "results.csv").read_bytes() == table

