"""`TorchBatchStream`: `TrainingSource` batches as a PyTorch `IterableDataset`, split across distributed ranks and loader workers.

`torch_loader.torch_data_loader` hands `LengthBuckets` to the `DataLoader` as its batch sampler:
every process that builds it gets every batch, so under `torch.distributed` each rank would
train on the whole epoch. This stream cuts the epoch's batch plan instead: rank r of R takes
the plan's batches r, r + R, r + 2R, ..., and worker w of its K loader workers takes every K-th
of those, from its w-th on. Every rank and worker computes the same plan from the seed and the
epoch, so across all R x K of them each example is read exactly once per epoch, in bucketed
batches, with no coordination; the `DataLoader` hands a rank's batches on in plan order.

Axis legend: as `torch_loader.torch_batch`.
"""

import functools

import torch

from gemma4_audio_embed.reprs import ConfigRepr
from gemma4_audio_embed.training.torch_loader import torch_batch


def rank_batches(batches: list, rank: int, world_size: int, drop_uneven: bool = False) -> list:
    """Rank `rank`'s share of an epoch's `batches`: every `world_size`-th batch, from the `rank`-th.

    With `drop_uneven`, the last `len(batches) % world_size` batches of the plan are left out
    first, so that every rank takes as many steps (what `DistributedDataParallel` needs).
    """
    if drop_uneven:
        batches = batches[: len(batches) - len(batches) % world_size]
    return batches[rank::world_size]


class TorchBatchStream(ConfigRepr, torch.utils.data.IterableDataset):
    """Yields `torch_batch` dicts of one epoch's `LengthBuckets` plan, this rank's and this worker's share of it.

    Use it through `torch_loader.torch_stream_loader` (a `DataLoader` with `batch_size=None`).
    Call `set_epoch` before each epoch, as for PyTorch's `DistributedSampler`; the loader's
    workers take the epoch when they start, so they must not be persistent.

    Args:
        source: TrainingSource.
        buckets: LengthBuckets. Its seed and `pad_to_multiple_of` apply; its own epoch does not.
        rank: int or None. This process's rank. Defaults to `torch.distributed`'s rank when it
            is initialized, else 0.
        world_size: int or None. The number of ranks. Defaults to `torch.distributed`'s world
            size when it is initialized, else 1.
        drop_uneven: bool. Leave out the plan's last `len(plan) % world_size` batches each
            epoch (different ones each epoch, as the plan is shuffled), so every rank takes as
            many steps. Defaults to False: every example once, ranks at most one batch apart.

    Raises:
        ValueError: `world_size` < 1, or `rank` not in `[0, world_size)`.
    """

    def __init__(self, source, buckets, rank: int = None, world_size: int = None, drop_uneven: bool = False):
        super().__init__()
        is_distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if world_size is None:
            world_size = torch.distributed.get_world_size() if is_distributed else 1
        if rank is None:
            rank = torch.distributed.get_rank() if is_distributed else 0
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(
                f"`rank` must be in [0, world_size) and `world_size` >= 1. Received: rank={rank}, "
                f"world_size={world_size}"
            )
        self.rank = rank
        self.world_size = world_size
        self.drop_uneven = drop_uneven
        self.epoch = 0
        self._source = source
        self._buckets = buckets
        self._collate = functools.partial(
            torch_batch, pad_id=source.special_ids.pad, pad_to_multiple_of=buckets.pad_to_multiple_of
        )

    def set_epoch(self, epoch: int) -> None:
        """Use epoch `epoch`'s plan from the next iteration on."""
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """This rank's batches of the current epoch (example indices), in the order its loader yields them."""
        return rank_batches(self._buckets.batches(self.epoch), self.rank, self.world_size, self.drop_uneven)

    def __len__(self) -> int:
        return len(self.batches())

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        worker_id, num_workers = (0, 1) if worker is None else (worker.id, worker.num_workers)
        for indices in self.batches()[worker_id::num_workers]:
            yield self._collate([self._source[index] for index in indices])


def torch_stream_loader(
    source, buckets, rank: int = None, world_size: int = None, drop_uneven: bool = False, num_workers: int = 0, **kwargs
) -> torch.utils.data.DataLoader:
    """A `DataLoader` over a `TorchBatchStream`: this rank's `torch_batch` dicts, read by `num_workers` workers.

    Call `loader.dataset.set_epoch(epoch)` before each epoch.

    Args:
        source, buckets, rank, world_size, drop_uneven: as `TorchBatchStream`.
        num_workers: int. Worker processes reading records. Defaults to 0.
        **kwargs: passed to `DataLoader` (`pin_memory`, `prefetch_factor`, ...).

    Raises:
        ValueError: `persistent_workers=True`, whose workers would keep their first epoch's plan.
    """
    if kwargs.get("persistent_workers"):
        raise ValueError(
            "`persistent_workers=True` keeps each worker's copy of the stream, so `set_epoch` would not reach it; "
            "leave it False."
        )
    stream = TorchBatchStream(source, buckets, rank, world_size, drop_uneven)
    return torch.utils.data.DataLoader(stream, batch_size=None, num_workers=num_workers, **kwargs)
