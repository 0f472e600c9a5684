"""The grid across processes: ``torchrun --nproc-per-node N -m voicesae_core train-grid ...``.

A grid's models are independent, so each process (rank) trains a share of them on the same batches
in the same order; a model comes out as it would from one process. What the ranks share:

* ``share``: which configs a rank trains, balanced by each model's cost (latent_dim), the same on
  every rank without any exchange;
* ``gather_to_first``: the checkpoint's tensors, gathered so rank 0 writes the one checkpoint file,
  in the single-process format (a run resumes with any number of ranks, or none);
* ``all_gather``: the finished models and their table rows, so every rank returns the whole grid
  and rank 0 writes the one ``results.csv``;
* ``any_true``: whether some rank hit a problem (a diverged model), so all stop together rather
  than wait on a collective forever.

Without ``torch.distributed`` initialised (every ordinary run) each helper is the one-process case.
Process groups: gloo on CPUs (tested with 2 processes), NCCL on GPUs (``init_from_env``).
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def rank_and_world() -> tuple[int, int]:
    """(this process's rank, the number of processes); (0, 1) when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_from_env(device: str) -> bool:
    """Join the process group torchrun describes (WORLD_SIZE, RANK, MASTER_ADDR ... in the
    environment), with NCCL for a CUDA ``device`` and gloo otherwise. False when not under torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (dist.is_available() and dist.is_initialized()):
        return False
    if device.startswith("cuda:"):
        from ..errors import VoicesaeError
        raise VoicesaeError(f"--device {device}: under torchrun each process takes the GPU of its LOCAL_RANK; "
                            "give --device cuda (or auto)")
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")
    # The processes of one machine share its cores: each takes OMP_NUM_THREADS (torchrun sets 1) or
    # its part of them, for torch and numba alike. Numba's OpenMP layer, once started, would raise
    # torch's count to all cores; two processes spinning two threads each on 2 cores ran 10-20 x slower.
    import numba
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    threads = int(os.environ.get("OMP_NUM_THREADS") or 0) or max(1, (os.cpu_count() or 1) // local)
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    torch.set_num_threads(threads)
    return True


def share(costs: list[float], rank: int, world: int) -> list[int]:
    """The indices (into ``costs``) that ``rank`` trains: largest first, each to the least loaded rank."""
    load, owner = [0.0] * world, {}
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        r = min(range(world), key=lambda r: (load[r], r))
        owner[i] = r
        load[r] += costs[i]
    return [i for i in range(len(costs)) if owner[i] == rank]


def gather_to_first(obj):
    """Every rank's ``obj`` as a list on rank 0 (None elsewhere); [obj] when not distributed."""
    rank, world = rank_and_world()
    if world == 1:
        return [obj]
    out = [None] * world if rank == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def all_gather(obj) -> list:
    """Every rank's ``obj``, as a list on every rank."""
    rank, world = rank_and_world()
    if world == 1:
        return [obj]
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out


def any_true(flag: bool) -> bool:
    """Whether ``flag`` is true on any rank."""
    if rank_and_world()[1] == 1:
        return flag
    t = torch.tensor([int(flag)], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def barrier() -> None:
    if rank_and_world()[1] > 1:
        dist.barrier()
