"""Data loaders for several processes: each process sees its share of every global batch.

Without `split_batches`, process i takes batches i, i+n, i+2n, ... of the original loader (so
the global batch is n times the loader's batch size); with `split_batches`, every batch is cut
into n equal slices. With `even_batches` (default), the last global batch is completed with
samples from the start of the dataset so every process runs the same number of steps;
`gather_for_metrics` later drops those duplicates (`remainder`).

>>> import torch
>>> from torch.utils.data import BatchSampler, SequentialSampler
>>> bs = BatchSampler(SequentialSampler(range(10)), batch_size=2, drop_last=False)
>>> [list(BatchSamplerShard(bs, 2, i)) for i in range(2)]
[[[0, 1], [4, 5], [8, 9]], [[2, 3], [6, 7], [0, 1]]]
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import BatchSampler, DataLoader, IterableDataset, RandomSampler

from snuggle.accelerate.operations import broadcast, send_to_device
from snuggle.accelerate.state import GradientState, PartialState
from snuggle.errors import ConfigError

# DataLoader arguments carried over when a loader is rebuilt (sampling ones are replaced).
_LOADER_KWARGS = {
    "num_workers": 0, "collate_fn": None, "pin_memory": False, "timeout": 0, "worker_init_fn": None,
    "multiprocessing_context": None, "generator": None, "prefetch_factor": None, "persistent_workers": False,
    "pin_memory_device": "", "in_order": True,
}


def _loader_kwargs(dataloader: DataLoader) -> dict:
    import inspect

    accepted = inspect.signature(DataLoader.__init__).parameters
    kwargs = {k: getattr(dataloader, k, default) for k, default in _LOADER_KWARGS.items() if k in accepted}
    if kwargs.get("num_workers", 0) == 0:
        kwargs["prefetch_factor"] = None  # DataLoader rejects it without workers
    return kwargs


class BatchSamplerShard(BatchSampler):
    """The batches of `batch_sampler` that belong to `process_index` (see the module docstring)."""

    def __init__(self, batch_sampler, num_processes: int = 1, process_index: int = 0, split_batches: bool = False,
                 even_batches: bool = True):
        batch_size = getattr(batch_sampler, "batch_size", None)
        if split_batches and batch_size is not None and batch_size % num_processes != 0:
            raise ConfigError(
                f"split_batches=True needs the batch size ({batch_size}) to be a multiple of the number of "
                f"processes ({num_processes}); change the batch size or use split_batches=False"
            )
        if batch_size is None and even_batches:
            raise ConfigError(
                "the batch sampler has no `batch_size` attribute (variable batch sizes); pass even_batches=False"
            )
        self.batch_sampler = batch_sampler
        self.num_processes = num_processes
        self.process_index = process_index
        self.split_batches = split_batches
        self.even_batches = even_batches
        self.batch_size = batch_size
        self.drop_last = getattr(batch_sampler, "drop_last", False)

    @property
    def sampler(self):
        return getattr(self.batch_sampler, "sampler", None)

    @property
    def total_length(self) -> int:
        return len(self.batch_sampler)

    def __len__(self) -> int:
        n, total = self.num_processes, len(self.batch_sampler)
        if self.split_batches:
            return total
        if self.drop_last:
            return total // n
        if self.even_batches:
            return math.ceil(total / n)
        return total // n + (1 if self.process_index < total % n else 0)

    def __iter__(self):
        return self._iter_split() if self.split_batches else self._iter_whole()

    def _iter_split(self):
        size = self.batch_size
        share = size // self.num_processes
        mine = slice(share * self.process_index, share * (self.process_index + 1))
        first, last = None, None
        for batch in self.batch_sampler:
            first = batch if first is None else first
            last = batch
            if len(batch) == size:
                yield batch[mine]
        if first is None or self.drop_last or len(last) == size:
            return
        if not self.even_batches:
            if len(last) > mine.start:
                yield last[mine]
            return
        filler = list(first)
        while len(filler) < size:  # datasets smaller than one batch
            filler += filler
        yield (list(last) + filler)[mine]

    def _iter_whole(self):
        n, index, size = self.num_processes, self.process_index, self.batch_size
        # Keep one "round" (a batch for each process) in hand so that an incomplete final
        # round can be completed or dropped before anything of it is yielded.
        initial: list = []
        pending: list = []
        count = 0
        for count, batch in enumerate(self.batch_sampler, start=1):
            if not self.drop_last and count <= n:
                initial += list(batch)
            pending.append(batch)
            if len(pending) == n and (size is None or len(batch) == size):
                yield pending[index]
                pending = []
        if count == 0 or self.drop_last or not pending:
            return
        if not self.even_batches:
            if index < len(pending):
                yield pending[index]
            return
        # even_batches: top up the last batch and add whole batches from the start of the data
        while len(initial) < n * size:
            initial += initial
        cursor = 0
        if len(pending[-1]) < size:
            missing = size - len(pending[-1])
            pending[-1] = list(pending[-1]) + initial[:missing]
            cursor = missing
        while len(pending) < n:
            pending.append(initial[cursor:cursor + size])
            cursor += size
        yield pending[index]


class IterableDatasetShard(IterableDataset):
    """An iterable dataset cut into global batches of `batch_size * num_processes` samples (or
    `batch_size` with split_batches); each process yields its slice of each global batch. The last
    incomplete global batch is dropped (drop_last) or completed with the first samples."""

    def __init__(self, dataset, batch_size: int = 1, drop_last: bool = False, num_processes: int = 1,
                 process_index: int = 0, split_batches: bool = False):
        if split_batches and batch_size > 1 and batch_size % num_processes != 0:
            raise ConfigError(
                f"split_batches=True needs the batch size ({batch_size}) to be a multiple of the number of "
                f"processes ({num_processes})"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.num_processes = num_processes
        self.process_index = process_index
        self.split_batches = split_batches

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self):
        global_batch = self.batch_size if self.split_batches else self.batch_size * self.num_processes
        total = len(self.dataset)
        rounds = total // global_batch if self.drop_last else math.ceil(total / global_batch)
        return rounds * global_batch // self.num_processes

    def __iter__(self):
        global_batch = self.batch_size if self.split_batches else self.batch_size * self.num_processes
        share = global_batch // self.num_processes
        mine = slice(share * self.process_index, share * (self.process_index + 1))
        first: list | None = None
        buffer: list = []
        for sample in self.dataset:
            buffer.append(sample)
            if len(buffer) == global_batch:
                yield from buffer[mine]
                if first is None:
                    first = list(buffer)
                buffer = []
        if buffer and not self.drop_last:
            filler = first if first is not None else list(buffer)
            while len(buffer) < global_batch:
                buffer += filler[: global_batch - len(buffer)]
            yield from buffer[mine]


class DataLoaderShard(DataLoader):
    """A DataLoader that moves batches to `device`, knows when it yields its last batch (it reads
    one batch ahead) and tells the GradientState, so that `accumulate()` and `gather_for_metrics`
    can act on the end of the data. Under several processes it also makes every process shuffle
    the same way (the sampler's seed is broadcast from process 0 at each epoch)."""

    def __init__(self, dataset, device=None, skip_batches: int = 0, _drop_last: bool = False,
                 _sync_random_sampler: bool = False, **kwargs):
        super().__init__(dataset, **kwargs)
        self.device = device
        self.skip_batches = skip_batches
        self._drop_last = _drop_last
        self._sync_random_sampler = _sync_random_sampler
        self._owns_generator = False
        self.gradient_state = GradientState()
        self.iteration = 0
        self.end_of_dataloader = False
        self.remainder = -1

    # ---------------------------------------------------------------- sizes
    @property
    def total_batch_size(self) -> int:
        sampler = self.batch_sampler
        if isinstance(sampler, BatchSamplerShard):
            if sampler.split_batches:
                return sampler.batch_size
            return sampler.batch_size * sampler.num_processes
        if isinstance(self.dataset, IterableDatasetShard):
            ds = self.dataset
            return ds.batch_size if ds.split_batches else ds.batch_size * ds.num_processes
        return self.batch_size if self.batch_size is not None else getattr(sampler, "batch_size", 1)

    @property
    def total_dataset_length(self) -> int:
        dataset = self.dataset.dataset if isinstance(self.dataset, IterableDatasetShard) else self.dataset
        return len(dataset)

    def set_epoch(self, epoch: int) -> None:
        """Tell the sampler/dataset the epoch (e.g. DistributedSampler, shuffled iterable datasets)."""
        if self.iteration != epoch:
            self.iteration = epoch
        sampler = getattr(self.batch_sampler, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    # ---------------------------------------------------------------- iteration
    def _begin(self) -> None:
        self.end_of_dataloader = False
        self.remainder = -1
        if not self._drop_last:
            try:
                self.remainder = self.total_dataset_length % self.total_batch_size
            except TypeError:  # no len(): remainder unknown
                self.remainder = -1
        self.gradient_state._add_dataloader(self)

    def _end(self) -> None:
        self.gradient_state._remove_dataloader(self)

    def _synchronize_shuffle(self) -> None:
        sampler = getattr(self.batch_sampler, "sampler", None)
        if not isinstance(sampler, RandomSampler):
            return
        if sampler.generator is not None and not self._owns_generator:
            return  # the user's own generator: they seed it
        # Draw from the global RNG like RandomSampler would, then use process 0's draw everywhere.
        seed = torch.empty((), dtype=torch.int64).random_()
        seed = broadcast(seed.reshape(1).to(PartialState().device)).cpu()
        generator = torch.Generator()
        generator.manual_seed(int(seed.item()))
        sampler.generator = generator
        self._owns_generator = True

    def __iter__(self):
        self._begin()
        iterator = super().__iter__()
        if self._sync_random_sampler and PartialState().use_distributed:
            # after the iterator drew its worker base seed and before the sampler draws its own:
            # the same sequence of global-RNG draws as a plain DataLoader, hence the same order
            self._synchronize_shuffle()
        try:
            current = next(iterator)
        except StopIteration:
            self._end()
            return
        index = 0
        try:
            while True:
                if self.device is not None:
                    current = send_to_device(current, self.device)
                try:
                    following = next(iterator)
                except StopIteration:
                    self.end_of_dataloader = True
                    if index >= self.skip_batches:
                        yield current
                    break
                if index >= self.skip_batches:
                    yield current
                index += 1
                current = following
        finally:
            self.iteration += 1
            self._end()


def prepare_data_loader(dataloader: DataLoader, device=None, num_processes: int | None = None,
                        process_index: int | None = None, split_batches: bool = False, put_on_device: bool = False,
                        even_batches: bool = True) -> DataLoaderShard:
    """Rebuild `dataloader` so that this process gets its share of each global batch (see the
    module docstring). In a single process the batches are those of the original loader."""
    if not isinstance(dataloader, DataLoader):
        raise ConfigError(f"prepare_data_loader expects a torch DataLoader, got {type(dataloader).__name__}")
    state = PartialState()
    num_processes = state.num_processes if num_processes is None else num_processes
    process_index = state.process_index if process_index is None else process_index
    dataset = dataloader.dataset
    kwargs = _loader_kwargs(dataloader)
    extra = {"device": device if put_on_device else None, "_drop_last": dataloader.drop_last}
    if isinstance(dataset, IterableDataset):
        if num_processes > 1:
            dataset = IterableDatasetShard(dataset, batch_size=dataloader.batch_size, drop_last=dataloader.drop_last,
                                           num_processes=num_processes, process_index=process_index,
                                           split_batches=split_batches)
        batch_size = dataloader.batch_size
        if split_batches and num_processes > 1 and batch_size is not None:
            batch_size //= num_processes
        return DataLoaderShard(dataset, batch_size=batch_size, drop_last=dataloader.drop_last, **extra, **kwargs)
    sampler_is_batch_sampler = isinstance(dataloader.sampler, BatchSampler)
    batch_sampler = dataloader.sampler if sampler_is_batch_sampler else dataloader.batch_sampler
    if num_processes > 1:
        batch_sampler = BatchSamplerShard(batch_sampler, num_processes=num_processes, process_index=process_index,
                                          split_batches=split_batches, even_batches=even_batches)
    elif split_batches and getattr(batch_sampler, "batch_size", None) is None:
        raise ConfigError("split_batches=True needs a loader with a batch_size")
    extra["_sync_random_sampler"] = num_processes > 1
    if sampler_is_batch_sampler:
        return DataLoaderShard(dataset, sampler=batch_sampler, batch_size=dataloader.batch_size, **extra, **kwargs)
    return DataLoaderShard(dataset, batch_sampler=batch_sampler, **extra, **kwargs)


class SkipBatchSampler(BatchSampler):
    """The batches of `batch_sampler` after the first `skip_batches`."""

    def __init__(self, batch_sampler, skip_batches: int = 0):
        self.batch_sampler = batch_sampler
        self.skip_batches = skip_batches
        self.batch_size = getattr(batch_sampler, "batch_size", None)
        self.drop_last = getattr(batch_sampler, "drop_last", False)

    @property
    def sampler(self):
        return getattr(self.batch_sampler, "sampler", None)

    def __iter__(self):
        for i, batch in enumerate(self.batch_sampler):
            if i >= self.skip_batches:
                yield batch

    @property
    def total_length(self) -> int:
        return len(self.batch_sampler)

    def __len__(self) -> int:
        return max(len(self.batch_sampler) - self.skip_batches, 0)


class SkipDataLoader(DataLoader):
    """A DataLoader that discards its first `skip_batches` batches (for iterable datasets)."""

    def __init__(self, dataset, skip_batches: int = 0, **kwargs):
        super().__init__(dataset, **kwargs)
        self.skip_batches = skip_batches

    def __iter__(self):
        for i, batch in enumerate(super().__iter__()):
            if i >= self.skip_batches:
                yield batch


def skip_first_batches(dataloader: DataLoader, num_batches: int = 0) -> DataLoader:
    """A loader like `dataloader` that starts after its first `num_batches` batches (to resume
    mid-epoch without loading the skipped samples; map-style datasets skip indices only).

    >>> from torch.utils.data import DataLoader
    >>> [b.tolist() for b in skip_first_batches(DataLoader(list(range(6)), batch_size=2), 2)]
    [[4, 5]]
    """
    if num_batches < 0:
        raise ConfigError(f"skip_first_batches: num_batches must be >= 0, got {num_batches}")
    dataset = dataloader.dataset
    kwargs = _loader_kwargs(dataloader)
    if isinstance(dataloader, DataLoaderShard):
        extra = {"device": dataloader.device, "_drop_last": dataloader._drop_last,
                 "_sync_random_sampler": dataloader._sync_random_sampler}
        if isinstance(dataset, IterableDataset):
            return DataLoaderShard(dataset, skip_batches=num_batches, batch_size=dataloader.batch_size,
                                   drop_last=dataloader.drop_last, **extra, **kwargs)
        if isinstance(dataloader.sampler, BatchSampler):
            return DataLoaderShard(dataset, sampler=SkipBatchSampler(dataloader.sampler, num_batches),
                                   batch_size=dataloader.batch_size, **extra, **kwargs)
        return DataLoaderShard(dataset, batch_sampler=SkipBatchSampler(dataloader.batch_sampler, num_batches),
                               **extra, **kwargs)
    if isinstance(dataset, IterableDataset):
        return SkipDataLoader(dataset, skip_batches=num_batches, batch_size=dataloader.batch_size,
                              drop_last=dataloader.drop_last, **kwargs)
    batch_sampler = dataloader.sampler if isinstance(dataloader.sampler, BatchSampler) else dataloader.batch_sampler
    return DataLoader(dataset, batch_sampler=SkipBatchSampler(batch_sampler, num_batches), **kwargs)
