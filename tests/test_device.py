"""The device contract (voicesae_core/device.py): models live on one device, data go to them there,
results come back to the host only at the edge, and nothing the CUDA path runs adds in an
unfixed order.

Without a GPU, PyTorch's ``meta`` device stands in for one: a model there computes shapes but
holds no numbers, so code that keeps data and model together runs until it copies a result to
the host, and fails there ("Cannot copy out of meta tensor" or "item() cannot be called on meta
tensors"). Code that feeds a CPU tensor to the model, or calls ``.numpy()`` on the model's output,
fails earlier and differently, the way it would on CUDA."""
import copy
import os

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from voicesae_core import SAEConfig, TrainConfig, device
from voicesae_core.analysis import catalogue, probe, recovery, splitting, steering
from voicesae_core.errors import VoicesaeError
from voicesae_core.sae import kernels
from voicesae_core.sae.metrics import evaluate
from voicesae_core.sae.model import SparseAutoencoder
from voicesae_core.sae.trainer import GridMember, train_grid


def test_resolve_names_and_refuses():
    assert device.resolve("cpu") == torch.device("cpu")
    assert device.resolve(" auto ") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(VoicesaeError, match=r"--device 'gpu': expected auto, cpu, cuda or cuda:N"):
        device.resolve("gpu", "--device")
    if not torch.cuda.is_available():
        with pytest.raises(VoicesaeError, match="study.yml: device cuda:1: this machine has no CUDA device"):
            device.resolve("cuda:1", "study.yml: device")


def test_the_suite_runs_on_the_cpu_unless_asked():
    # conftest.py hides GPUs unless VOICESAE_TEST_CUDA=1, so "auto" here (and in the notebooks the
    # tests execute) is the CPU on every machine.
    if os.environ.get("VOICESAE_TEST_CUDA") != "1":
        assert os.environ.get("CUDA_VISIBLE_DEVICES") == "" and device.resolve("auto").type == "cpu"


def test_to_model_and_to_numpy_meet_the_model_where_it_is():
    sae = SparseAutoencoder.initialised(SAEConfig(8, 2, d_in=4))
    t = device.to_model(np.ones((3, 4), np.float64), sae)
    assert t.dtype == torch.float32 and t.device == device.of(sae)
    out = device.to_numpy(sae(t).x_hat)  # from a tensor that requires grad, too
    meta = SparseAutoencoder.initialised(SAEConfig(8, 2, d_in=4)).to("meta")
    assert device.to_model(torch.ones(3, 4, dtype=torch.float64), meta).device.type == "meta"
    assert isinstance(out, np.ndarray) and out.shape == (3, 4)
    assert device.describe(torch.device("cpu")) == "cpu"


def test_exact_float32_restores_the_settings():
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.deterministic)
    with device.exact_float32():
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.backends.cudnn.deterministic
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
            torch.backends.cudnn.deterministic) == before


def test_exact_float32_keeps_to_the_newer_tf32_flags_when_a_process_set_them():
    b = torch.backends
    before = b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision, b.cudnn.rnn.fp32_precision
    try:
        b.cudnn.conv.fp32_precision = "tf32"
        b.cuda.matmul.fp32_precision = "tf32"  # now the older flags cannot be read
        with device.exact_float32():
            assert (b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision, b.cudnn.rnn.fp32_precision) == ("ieee",) * 3
            assert b.cudnn.deterministic
        assert (b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision) == ("tf32", "tf32")
    finally:
        b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision, b.cudnn.rnn.fp32_precision = before


# ----------------------------------------------------------------------------- plumbing, on meta

HOST_EDGE = ("Cannot copy out of meta tensor", "item() cannot be called on meta tensors")


def runs_on_the_model_device(fn):
    """``fn`` ran with its model on meta and stopped only where a result is copied to the host."""
    with pytest.raises((NotImplementedError, RuntimeError)) as e:
        fn()
    assert any(s in str(e.value) for s in HOST_EDGE), f"failed before the host edge: {e.value}"


@pytest.fixture
def meta_sae():
    return SparseAutoencoder.initialised(SAEConfig(16, 3, d_in=6)).to("meta").eval()


X = np.random.default_rng(0).standard_normal((10, 6)).astype(np.float32)
Y = np.arange(10) % 2 == 0

ANALYSES = {
    "steering.reconstruct": lambda m: steering.reconstruct(m, X),
    "steering.steer": lambda m: steering.steer(m, X, 2, Y),
    "steering.steering_experiment": lambda m: steering.steering_experiment(m, X, Y, X, Y, 2),
    "probe.encode": lambda m: probe.encode(m, X),
    "probe.identify": lambda m: probe.identify(m, X, Y, X, Y),
    "metrics.evaluate": lambda m: evaluate(m, X),
    "recovery.decoder_directions": lambda m: recovery.decoder_directions(m),
    "splitting.decoder_cosine": lambda m: splitting.decoder_cosine(m, 0, m, 1),
    "catalogue.activations": lambda m: catalogue.activations(m, X, 1),
    "model.save": lambda m: m.save("/nonexistent-never-written"),
}


@pytest.mark.parametrize("name", sorted(ANALYSES))
def test_every_analysis_runs_where_its_model_is(name, meta_sae):
    runs_on_the_model_device(lambda: ANALYSES[name](meta_sae))


def test_the_meta_check_catches_a_cpu_tensor_fed_to_the_model(meta_sae):
    # What steering.reconstruct did before: the check above must fail on it.
    with pytest.raises(RuntimeError, match="not on the expected device"):
        meta_sae(torch.as_tensor(X))


def test_resume_puts_all_of_adams_state_on_the_models_device(data):
    cfg = SAEConfig(16, 3).resolved(data.shape[1], len(data))
    cpu = GridMember(cfg, torch.zeros(data.shape[1]), 1.0, TrainConfig(), torch.device("cpu"), "torch")
    cpu.step(torch.from_numpy(data[:64]))
    state = cpu.state("0.")
    meta = GridMember(cfg, torch.zeros(data.shape[1]), 1.0, TrainConfig(), torch.device("meta"), "torch")
    meta.load_state(state, "0.")
    placed = {k: v.device.type for p in meta.params for k, v in meta.opt.state[p].items()}
    assert placed and set(placed.values()) == {"meta"}, placed
    assert meta.since_fired.device.type == "meta"


def test_load_grid_and_load_take_a_device(data, tmp_path):
    from voicesae_core.sae.trainer import load_grid
    cfgs = [SAEConfig(16, 3)]
    train_grid(data[:500], cfgs, TrainConfig(epochs=1, batch_size=100), out_dir=tmp_path, quiet=True)
    assert load_grid(tmp_path, cfgs, data[:500], device="cpu")[0].W_dec.device.type == "cpu"
    assert load_grid(tmp_path, cfgs, device=torch.device("meta"))[0].W_dec.device.type == "meta"
    with pytest.raises(VoicesaeError, match="load_grid: device 'tpu'"):
        load_grid(tmp_path, cfgs, device="tpu")


# ------------------------------------------------------------------ determinism of the CUDA path

# aten ops that CUDA runs with atomic adds (so in no fixed order) or that PyTorch's deterministic
# mode refuses there: none may run in a training step of the torch back end.
NONDETERMINISTIC_ON_CUDA = {
    "index_add", "index_add_", "scatter_add", "scatter_add_", "scatter_reduce", "scatter_reduce_", "index_reduce",
    "index_reduce_", "put", "put_", "embedding_dense_backward", "_embedding_bag_backward",
    "_embedding_bag_dense_backward", "_embedding_bag_per_sample_weights_backward", "histc", "bincount",
    "kthvalue", "median", "index_put_accumulate", "_index_put_impl_accumulate", "_unsafe_index_put_accumulate",
}


class OpLog(TorchDispatchMode):
    """Every aten op run inside, by name (an accumulating index_put named as such)."""

    def __init__(self):
        super().__init__()
        self.ops = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        if "index_put" in name and (kwargs.get("accumulate") or (len(args) > 3 and args[3] is True)):
            name += "_accumulate"
        self.ops.add(name)
        return func(*args, **kwargs)


def test_the_op_log_sees_an_atomic_add():
    with OpLog() as log:
        torch.zeros(4).index_add_(0, torch.tensor([1, 1]), torch.ones(2))
        torch.zeros(4).index_put_((torch.tensor([1, 1]),), torch.ones(2), accumulate=True)
    assert {"index_add_", "index_put__accumulate"} <= log.ops or {"index_add_"} <= log.ops
    assert log.ops & NONDETERMINISTIC_ON_CUDA


@pytest.mark.parametrize("activation", ["topk", "batchtopk", "relu"])
def test_a_torch_backend_step_adds_in_a_fixed_order(activation, data):
    x = torch.from_numpy(data[:256])
    cfg = SAEConfig(64, 4, activation, dead_after_samples=1).resolved(x.shape[1], len(x))  # AuxK runs too
    m = GridMember(cfg, x.mean(0), 1.0, TrainConfig(), torch.device("cpu"), "torch")
    with OpLog() as log:
        m.step(x)
        m.step(x)
    assert "mm" in log.ops or "addmm" in log.ops  # the log saw the step
    assert not log.ops & NONDETERMINISTIC_ON_CUDA, sorted(log.ops & NONDETERMINISTIC_ON_CUDA)


def test_kernels_torch_backend_needs_no_atomics_for_latent_grads():
    code = kernels.SparseCode(torch.tensor([[0, 2], [2, 1]]), torch.tensor([[1.0, 0.5], [2.0, 0.0]]))
    g_act = torch.tensor([[0.1, 0.2], [0.3, 0.0]])
    grad_out, xc = torch.ones(2, 3), torch.arange(6.0).reshape(2, 3)
    gw_dec, gw_enc, gb = torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4)
    with OpLog() as log:
        fired = kernels.accumulate_latent_grads(code, g_act, grad_out, xc, gw_dec, gw_enc, gb, "torch")
    assert not log.ops & NONDETERMINISTIC_ON_CUDA
    assert fired.tolist() == [1, 0, 2, 0]
    assert torch.allclose(gw_dec[2], torch.full((3,), 2.5)) and torch.allclose(gb, torch.tensor([0.1, 0.0, 0.5, 0.0]))


@pytest.mark.cuda
def test_analyses_of_a_cuda_model_equal_the_cpus(data):
    sae = train_grid(data, [SAEConfig(64, 4)], TrainConfig(epochs=1, batch_size=256, device="cpu"), quiet=True).models[0]
    gpu = copy.deepcopy(sae).to("cuda")
    x, y = data[:500], np.arange(500) % 3 == 0
    for f in (lambda m: steering.reconstruct(m, x), lambda m: steering.steer(m, x, 3, y), lambda m: probe.encode(m, x),
              lambda m: recovery.decoder_directions(m), lambda m: catalogue.activations(m, x, 1),
              lambda m: steering.steering_experiment(m, x, y, x, y, 3).delta_after):
        np.testing.assert_allclose(f(sae), f(gpu), atol=1e-4)
    a, b = evaluate(sae, x).summary(), evaluate(gpu, x).summary()
    assert all(abs(a[k] - b[k]) < 1e-5 for k in a), (a, b)
    assert splitting.decoder_cosine(sae, 0, sae, 1) == pytest.approx(splitting.decoder_cosine(gpu, 0, gpu, 1), abs=1e-6)
