"""Repeated runs on the local multi-process runner at E2B width: exact accounting every time.

Before `pipeline/local_runner.py`, about one such run in four lost records silently (1000
two-second clips at E2B width: 35 to 230 records, exit 0, a summary counting them all): the
runner's timed flush dropped a chunk of a bundle's input. Now records cross the runner only as
their places (`outputs/spill.py`), the runner's data plane is size-based, and the job checks its
files against its counts (`outputs/output_check.py`), so a loss fails the run.

Corpus: 40 clips of 0.5-2 s at 16 kHz. Encoder: tests/conftest.py's tiny config with E2B's
output width, 1536 floats per token, so the records are full size.
"""

import numpy as np
import pytest
from accounting import accounted_outputs
from apache_beam.runners.portability.fn_api_runner import worker_handlers
from synthetic_audio import tone
from synthetic_audio import write_audio
from testbed import TINY_ENCODER_CONFIG

from gemma4_audio_embed.pipeline.cli import run

NUM_CLIPS = 40
NUM_RUNS = 3
E2B_WIDTH = 1536


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("multi_process") / "in"
    folder.mkdir()
    seconds = np.random.default_rng(0).uniform(0.5, 2.0, NUM_CLIPS)
    for index, length in enumerate(seconds):
        write_audio(folder / f"clip{index:02d}.wav", tone(float(length), 16000, seed=index), 16000)
    return folder


@pytest.fixture(scope="module")
def e2b_width_encoder(tmp_path_factory):
    from gemma4_audio_embed import encoder

    path = tmp_path_factory.mktemp("encoder") / "tiny_e2b_width.keras"
    encoder.default_encoder(seed=1, **(TINY_ENCODER_CONFIG | {"output_dim": E2B_WIDTH})).save(path)
    return path


@pytest.mark.parametrize("attempt", range(NUM_RUNS))
def test_every_multi_process_run_accounts_for_every_clip(corpus, e2b_width_encoder, tmp_path, attempt):
    output = tmp_path / "emb"
    run(
        [
            f"--input={corpus}/*",
            f"--output={output}",
            f"--weights={e2b_width_encoder}",
            "--runner=FnApiRunner",
            "--direct_running_mode=multi_processing",
            "--direct_num_workers=2",
            "--bucket_seconds=4",
            "--num_shards=2",
        ]
    )
    found, dead, summary = accounted_outputs(str(output))
    assert (len(found), len(dead), summary["records"], summary["inputs"]) == (NUM_CLIPS, 0, NUM_CLIPS, NUM_CLIPS)
    assert {record.embedding_dim for record in found} == {E2B_WIDTH}
    assert worker_handlers.DATA_BUFFER_TIME_LIMIT_MS == 0  # the runner's data plane ran size-based
