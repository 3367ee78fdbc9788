"""The FSDP learner group: N learner processes, one torch.distributed group, the policy sharded with FSDP2.

`ShardedLearner` is the single-process `Learner` run as one rank of that group (plain class: the
test drives two of them with `torch.multiprocessing`, Ray mode makes each one an actor):

- Every rank gets the whole rollout batch, so the loss weights use the whole batch's sequence and
  token counts exactly as on one process; each rank then runs only its share of the micro-batches
  (balanced by tokens) and pads with zero-weight micro-batches so all ranks make the same number of
  collective forward/backward calls.
- The model (and the frozen reference, when beta > 0) is sharded per decoder layer with FSDP2
  `fully_shard`. Gradients are reduce-scattered as *sums* (divide factor 1), because each rank's
  loss is already its part of the global sum, not a per-rank mean; so the step equals the
  single-process step up to summation order (tests/training/grpo/test_learner_group.py).
- Backends: gloo on CPU (torch 2.13 runs FSDP2 on CPU with gloo once reductions are plain SUM:
  gloo has no PREMUL_SUM), NCCL on GPUs with NVLink multicast off (`NCCL_ENV`).
- Weights leave the group as one full CPU state dict on rank 0 (all ranks take part in the
  all-gather); optimizer state is saved in torch's positional format, so a checkpoint written by a
  group resumes in local mode and the other way round.

Limit: each rank loads the full model before sharding it (fine to a few billion parameters on an
H200; larger models would build on the meta device first).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from training.config import TrainConfig
from training.grpo.batching import pack_by_tokens
from training.grpo.learner import Learner
from training.grpo.rollout import Sample

# NVLink multicast (NVLS) stays off: on the shared H200 hosts a program using it can take the GPUs
# out of service for everyone (see the device notes); set wherever a learner process starts.
NCCL_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def rendezvous_address() -> str:
    """`tcp://<this node's IP>:<free port>`: run on rank 0's node, passed to every rank."""
    try:
        import ray.util

        host = ray.util.get_node_ip_address()
    except Exception:  # noqa: BLE001 - no Ray (a plain multi-process test): loopback is right
        host = "127.0.0.1"
    return f"tcp://{host}:{free_port()}"


def init_process_group(rank: int, world_size: int, init_method: str, device_type: str) -> None:
    """Join the learner group: gloo on CPU; NCCL for CUDA tensors (gloo for CPU-side metric sums)."""
    os.environ.update(NCCL_ENV)
    if dist.is_initialized():
        return
    backend = "cpu:gloo,cuda:nccl" if device_type == "cuda" else "gloo"
    dist.init_process_group(
        backend, init_method=init_method, rank=rank, world_size=world_size, timeout=timedelta(minutes=30)
    )


def shard_model(model: torch.nn.Module) -> None:
    """FSDP2 per decoder layer, then the root (embeddings, tied head, final norm); gradients summed."""
    from torch.distributed.fsdp import FSDPModule, fully_shard

    layer_types = set(getattr(model, "_no_split_modules", None) or ())
    for module in model.modules():
        if type(module).__name__ in layer_types:
            fully_shard(module)
    fully_shard(model)
    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.set_gradient_divide_factor(1.0)
            module.set_force_sum_reduction_for_comms(True)  # SUM only: gloo has no PREMUL_SUM


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every rank must call this (one all-gather per tensor); each gets the full CPU state dict."""
    from torch.distributed.tensor import DTensor

    out = {}
    for key, value in model.state_dict().items():
        if isinstance(value, DTensor):
            value = value.full_tensor()
        out[key] = value.detach().to("cpu")
    return out


def split_by_tokens(lengths: Sequence[int], world_size: int) -> list[list[int]]:
    """Sample indices for each rank: longest first onto the least-loaded rank (each list sorted).

    >>> split_by_tokens([5, 1, 4, 2], 2)
    [[0, 1], [2, 3]]
    """
    shares: list[list[int]] = [[] for _ in range(world_size)]
    load = [0] * world_size
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        r = min(range(world_size), key=lambda r: (load[r], r))
        shares[r].append(i)
        load[r] += lengths[i]
    return [sorted(s) for s in shares]


def _param_names(model: torch.nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]


def optim_state_by_index(state: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """DCP's name-keyed full optimizer state -> torch's positional `optimizer.state_dict()` format."""
    pos = {n: i for i, n in enumerate(names)}
    return {
        "state": {pos[k]: v for k, v in state["state"].items()},
        "param_groups": [{**g, "params": [pos[n] for n in g["params"]]} for g in state["param_groups"]],
    }


def optim_state_by_name(state: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {
        "state": {names[int(k)]: v for k, v in state["state"].items()},
        "param_groups": [{**g, "params": [names[int(i)] for i in g["params"]]} for g in state["param_groups"]],
    }


class ShardedLearner(Learner):
    """One rank of the learner group; the process group must be initialised first (`init_process_group`)."""

    def __init__(self, cfg: TrainConfig, policy_path: str, reference_path: str | None = None) -> None:
        if not dist.is_initialized():
            raise RuntimeError("ShardedLearner needs torch.distributed initialised; call init_process_group first.")
        super().__init__(cfg, policy_path, reference_path)
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.param_names = _param_names(self.model)  # before sharding: the names torch's optimizer order follows
        shard_model(self.model)
        if self.ref_model is not None:
            shard_model(self.ref_model)
        self.optimizer = self._make_optimizer(cfg.learning_rate)  # over the sharded (DTensor) parameters

    # ---- the Learner seams ---------------------------------------------------------------------
    def _shares(self, samples: Sequence[Sample]) -> list[list[int]]:
        return split_by_tokens([len(s.prompt_ids) + len(s.completion_ids) for s in samples], self.world_size)

    def _local_micro(self, samples: Sequence[Sample]) -> list[tuple[list[int], float]]:
        # Every rank computes every rank's plan (same inputs, same result), so no collective is needed
        # to agree on how many forward/backward calls to make.
        plans = []
        for share in self._shares(samples):
            lengths = [(len(samples[i].prompt_ids), len(samples[i].completion_ids)) for i in share]
            plans.append([[share[j] for j in idx] for idx in pack_by_tokens(lengths, self.cfg.micro_batch_tokens)])
        rounds = max(len(p) for p in plans)
        cheapest = min(range(len(samples)), key=lambda i: len(samples[i].prompt_ids) + len(samples[i].completion_ids))
        mine = plans[self.rank]
        return [(idx, 1.0) for idx in mine] + [([cheapest], 0.0)] * (rounds - len(mine))

    def _sum_over_ranks(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def _grad_norm(self, params: list[torch.Tensor]) -> float:
        from torch.distributed.tensor import DTensor

        if self.cfg.max_grad_norm > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        return float(norm.full_tensor() if isinstance(norm, DTensor) else norm)

    @torch.no_grad()
    def sequence_logps(self, samples: Sequence[Sample], *, reference: bool = False) -> list[torch.Tensor]:
        """Each rank computes its share, then all ranks get all (mini-batches may mix the shares)."""
        local = super().sequence_logps(samples, reference=reference)
        mine = {i: local[i] for i in self._shares(samples)[self.rank]}
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, mine)
        out = list(local)
        for part in gathered:
            for i, t in part.items():
                out[i] = t
        return out

    # ---- weights and state (collective: every rank calls; rank 0's result is the one used) -----
    def weights(self) -> dict[str, torch.Tensor]:
        return full_state_dict(self.model)

    def optimizer_state(self) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
        full = get_optimizer_state_dict(self.model, self.optimizer, options=opts)
        return optim_state_by_index(full, self.param_names) if self.rank == 0 else {}

    def load_optimizer_state(self, state: dict[str, Any]) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        opts = StateDictOptions(full_state_dict=True)
        named = optim_state_by_name(state, self.param_names)
        set_optimizer_state_dict(self.model, self.optimizer, optim_state_dict=named, options=opts)

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()
