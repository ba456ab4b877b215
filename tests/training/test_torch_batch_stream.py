"""`TorchBatchStream`: an epoch's bucketed batches split across ranks and loader workers, each example exactly once.

Corpus (tests/training/fakes.py, width 4): 11 inputs `m.jsonl#i00` ... `#i10`, one window each
of `1 + i % 4` rows, text "hello", in 2 shards. With `WordTokenizer` and the default template an
example is `<bos> <|audio> <|audio|> x T <audio|> Transcribe: hello <eos>`: `T + 6` tokens, 7 to 10.
`max_tokens=24` cuts batches of 2 or 3 examples (3 x 8 = 24; 3 x 9 = 27 > 24): about 5 per epoch.

Under `torch.distributed`, two spawned processes form a 2-rank `gloo` group over a rendezvous
file and build the stream with no rank or world size, as a DDP script would.
"""

import datetime
import json
import multiprocessing
import os
import pathlib
import time

import numpy as np
import pytest
import torch
from fakes import WordTokenizer
from fakes import write_output

from gemma4_audio_embed.training import LengthBuckets
from gemma4_audio_embed.training import TrainingSource
from gemma4_audio_embed.training.torch_batch_stream import TorchBatchStream
from gemma4_audio_embed.training.torch_batch_stream import rank_batches
from gemma4_audio_embed.training.torch_batch_stream import torch_stream_loader

KEYS = [f"m.jsonl#i{index:02d}" for index in range(11)]
WORDS = ["hello", "Transcribe:"]
WORLD_SIZE = 2
JOIN_SECONDS = 120  # a rank that hangs (rendezvous, gloo) fails the test instead of blocking it


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp("stream") / "embeddings")
    windows = [
        {"key": f"{key}@0", "num_tokens": 1 + index % 4, "metadata": {"text": "hello"}, "shard": index % 2}
        for index, key in enumerate(KEYS)
    ]
    write_output(prefix, windows, ".array_record")
    return TrainingSource(prefix, WordTokenizer(WORDS))


def epoch_keys(source, epoch, world_size=2, num_workers=2, **kwargs) -> list[list[list[str]]]:
    """Each rank's batches of `epoch`, as the input keys they hold, read through `DataLoader` workers."""
    buckets = LengthBuckets(source.lengths, max_tokens=24, seed=5)
    found = []
    for rank in range(world_size):
        loader = torch_stream_loader(source, buckets, rank, world_size, num_workers=num_workers, **kwargs)
        loader.dataset.set_epoch(epoch)
        found.append([batch["keys"] for batch in loader])
    return found


def read_as_rank(rank: int, init_method: str, output: str, results: str) -> None:
    """One rank of a `WORLD_SIZE`-rank `gloo` group (a spawned process): reads epoch 0 through
    `torch_stream_loader` built with no rank or world size, with and without `drop_uneven`, and
    writes what it read to `results/<rank>.json`."""
    timeout = datetime.timedelta(seconds=JOIN_SECONDS / 2)
    if os.path.exists("/sys/class/net/lo"):  # loopback, not the interface the host name resolves to
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.distributed.init_process_group(
        "gloo", init_method=init_method, rank=rank, world_size=WORLD_SIZE, timeout=timeout
    )
    try:
        source = TrainingSource(output, WordTokenizer(WORDS))
        buckets = LengthBuckets(source.lengths, max_tokens=24, seed=5)
        found = []
        for drop_uneven in (False, True):
            loader = torch_stream_loader(source, buckets, drop_uneven=drop_uneven)
            loader.dataset.set_epoch(0)
            batches = [batch["keys"] for batch in loader]
            stream = loader.dataset
            found.append({"rank": stream.rank, "world_size": stream.world_size, "batches": batches})
        pathlib.Path(results, f"{rank}.json").write_text(json.dumps(found))
    finally:
        torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def distributed_epoch(source, tmp_path_factory) -> dict:
    """`{drop_uneven: [each rank's {"rank", "world_size", "batches"}]}`: epoch 0 as read by the ranks
    of a real `WORLD_SIZE`-rank `torch.distributed` group."""
    folder = tmp_path_factory.mktemp("distributed")
    init_method = (folder / "rendezvous").as_uri()
    context = multiprocessing.get_context("spawn")  # a fresh interpreter per rank, as torchrun starts them
    ranks = [
        context.Process(target=read_as_rank, args=(rank, init_method, source.output, str(folder)))
        for rank in range(WORLD_SIZE)
    ]
    try:
        for process in ranks:
            process.start()
        deadline = time.monotonic() + JOIN_SECONDS
        for process in ranks:
            process.join(max(0.0, deadline - time.monotonic()))
        assert [process.exitcode for process in ranks] == [0] * WORLD_SIZE, "a rank failed or hung (see its stderr)"
    finally:
        for process in ranks:
            if process.is_alive():
                process.kill()
                process.join()
    reports = [json.loads((folder / f"{rank}.json").read_text()) for rank in range(WORLD_SIZE)]
    return {drop_uneven: [report[index] for report in reports] for index, drop_uneven in enumerate((False, True))}


@pytest.mark.parametrize(
    "num_batches, rank, world_size, drop_uneven, expected",
    [
        (5, 0, 2, False, [0, 2, 4]),
        (5, 1, 2, False, [1, 3]),
        (5, 0, 2, True, [0, 2]),  # batch 4 left out: both ranks take 2 steps
        (5, 1, 2, True, [1, 3]),
        (2, 2, 3, False, []),  # fewer batches than ranks: rank 2 has none
        (6, 1, 3, True, [1, 4]),
    ],
)
def test_rank_batches_takes_every_world_size_th_batch(num_batches, rank, world_size, drop_uneven, expected):
    assert rank_batches(list(range(num_batches)), rank, world_size, drop_uneven) == expected


def test_two_ranks_of_two_workers_read_each_example_exactly_once_per_epoch(source):
    for epoch in (0, 1):
        ranks = epoch_keys(source, epoch)
        keys = [key for batches in ranks for batch in batches for key in batch]
        assert sorted(keys) == KEYS  # every example once across 2 ranks x 2 workers
        plan = LengthBuckets(source.lengths, max_tokens=24, seed=5).batches(epoch)
        for rank, batches in enumerate(ranks):  # bucketed: the plan's batches, in plan order
            assert batches == [[source.keys[index] for index in batch] for batch in plan[rank::2]]


def test_the_same_seed_and_epoch_give_the_same_batches(source):
    first = epoch_keys(source, 3)
    assert epoch_keys(source, 3, num_workers=0) == first  # whatever the number of workers
    assert epoch_keys(source, 4) != first


def test_drop_uneven_gives_every_rank_as_many_batches(source):
    plan = LengthBuckets(source.lengths, max_tokens=24, seed=5).batches(0)
    assert len(plan) % 2 == 1  # the corpus leaves one batch over for two ranks
    ranks = epoch_keys(source, 0, drop_uneven=True)
    assert [len(batches) for batches in ranks] == [len(plan) // 2] * 2
    keys = [key for batches in ranks for batch in batches for key in batch]
    assert len(keys) == len(set(keys)) == len(KEYS) - len(plan[-1])


def test_a_batch_holds_the_examples_tensors(source):
    buckets = LengthBuckets(source.lengths, max_tokens=24, shuffle=False)
    batch = next(iter(torch_stream_loader(source, buckets, rank=0, world_size=1)))
    examples = [source[source.keys.index(key)] for key in batch["keys"]]
    assert batch["input_ids"].shape == (len(examples), max(len(example.token_ids) for example in examples))
    for row, example in enumerate(examples):
        np.testing.assert_array_equal(batch["input_ids"][row, : len(example.token_ids)], example.token_ids)
        np.testing.assert_array_equal(batch["embeddings"][row], example.embeddings[0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rank": 2, "world_size": 2}, r"`rank` must be in \[0, world_size\).*rank=2, world_size=2"),
        ({"rank": 0, "world_size": 0}, "world_size=0"),
    ],
)
def test_a_rank_outside_the_world_is_refused(source, kwargs, message):
    with pytest.raises(ValueError, match=message):
        TorchBatchStream(source, LengthBuckets(source.lengths, max_tokens=24), **kwargs)


def test_persistent_workers_are_refused(source):
    with pytest.raises(ValueError, match="persistent_workers"):
        torch_stream_loader(
            source, LengthBuckets(source.lengths, max_tokens=24), num_workers=1, persistent_workers=True
        )


def test_under_torch_distributed_the_ranks_read_each_example_exactly_once(source, distributed_epoch):
    ranks = distributed_epoch[False]
    assert [(rank["rank"], rank["world_size"]) for rank in ranks] == [(0, 2), (1, 2)]  # from the group
    keys = [[key for batch in rank["batches"] for key in batch] for rank in ranks]
    assert set(keys[0]).isdisjoint(keys[1])
    assert sorted(keys[0] + keys[1]) == KEYS


def test_under_torch_distributed_drop_uneven_gives_the_ranks_as_many_batches(source, distributed_epoch):
    plan = LengthBuckets(source.lengths, max_tokens=24, seed=5).batches(0)
    assert len(plan) % 2 == 1  # without drop_uneven, rank 0 would take one batch more
    ranks = distributed_epoch[True]
    assert [len(rank["batches"]) for rank in ranks] == [len(plan) // 2] * 2
    keys = [key for rank in ranks for batch in rank["batches"] for key in batch]
    assert len(keys) == len(set(keys)) == len(KEYS) - len(plan[-1])
