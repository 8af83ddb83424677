"""The process group a dirrm.torch module or sampler communicates over."""

from __future__ import annotations

from typing import Any, Optional, cast

import numpy as np
import numpy.typing as npt
import torch
import torch.distributed as dist


class _Group:
    """The process group a module communicates over, or none."""

    def __init__(self, process_group: Any, distributed: Optional[bool]) -> None:
        self.process_group = process_group
        self.distributed = distributed

    def active(self) -> bool:
        if self.distributed is False:
            return False
        if not (dist.is_available() and dist.is_initialized()):
            if self.distributed or self.process_group is not None:
                raise RuntimeError("dirrm.torch: distributed=True or a process_group needs torch.distributed "
                                   "to be initialized (dist.init_process_group)")
            return False
        return True

    def world(self) -> int:
        return int(dist.get_world_size(self.process_group))

    def rank(self) -> int:
        return int(dist.get_rank(self.process_group))

    def device(self) -> torch.device:
        # NCCL communicates CUDA tensors only; gloo (and MPI) host ones.
        if dist.get_backend(self.process_group) == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def all_reduce(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        t = torch.as_tensor(np.asarray(values, np.float64)).to(self.device())
        dist.all_reduce(t, group=self.process_group)
        return cast(npt.NDArray[np.float64], t.cpu().numpy())

    def all_gather_rows(self, rows: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        """Each rank's (n_rank, c) rows, in rank order (n_rank may differ)."""
        device = self.device()
        size = torch.tensor([rows.shape[0]], dtype=torch.int64, device=device)
        sizes = [torch.zeros_like(size) for _ in range(self.world())]
        dist.all_gather(sizes, size, group=self.process_group)
        counts = [int(s.item()) for s in sizes]
        padded = np.zeros((max(counts), rows.shape[1]), np.float32)
        padded[: rows.shape[0]] = rows
        local = torch.from_numpy(padded).to(device)
        parts = [torch.empty_like(local) for _ in counts]
        dist.all_gather(parts, local, group=self.process_group)
        return [p.cpu().numpy()[:c] for p, c in zip(parts, counts)]

    def broadcast_bytes(self, data: bytes, src_rank: int = 0) -> bytes:
        device = self.device()
        src = dist.get_global_rank(self.process_group, src_rank) if self.process_group is not None else src_rank
        size = torch.tensor([len(data)], dtype=torch.int64, device=device)
        dist.broadcast(size, src, group=self.process_group)
        buffer = torch.zeros(int(size.item()), dtype=torch.uint8)
        if self.rank() == src_rank:
            buffer = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        buffer = buffer.to(device)
        dist.broadcast(buffer, src, group=self.process_group)
        return bytes(buffer.cpu().numpy().tobytes())

