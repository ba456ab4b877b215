"""`gemma4-embed` (also `python -m gemma4_audio_embed`): launch a job, wait for it and print its summary; or `verify`.

`verify` imports only what it reads with (Beam's FileSystems, pyarrow), never the pipeline: the
pipeline's imports (Beam's RunInference, which imports PyTorch when it is installed; PyAV) load
native libraries whose threads made `verify` abort at exit now and then (exit 134,
"terminate called without an active exception") after printing its result.
"""

import json
import logging
import sys


def run(argv=None, test_pipeline=None):
    """Launches the embedding job (`pipeline.launch`), waits for it, and prints the summary it wrote.

    Args:
        argv: list of str. Command-line flags (`EmbedOptions` and any Beam flags); None reads
            `sys.argv`.
        test_pipeline: a `TestPipeline` to build on instead of a new `Pipeline`.

    Returns:
        The finished job's `apache_beam.runners.runner.PipelineResult` (its metrics hold the counters).

    Raises:
        LaunchError: before any pipeline is built, for a missing, contradictory or malformed
            flag, an `--input` pattern matching nothing, or a model source that is not usable.
    """
    from apache_beam.io.filesystems import FileSystems

    from gemma4_audio_embed.pipeline.launch import prepare
    from gemma4_audio_embed.pipeline.launch import submit
    from gemma4_audio_embed.pipeline.options import EmbedOptions
    from gemma4_audio_embed.pipeline.options import output_layout

    argv = sys.argv[1:] if argv is None else list(argv)
    options = prepare(argv, default_runner=test_pipeline is None)
    result = submit(options, wait=True, test_pipeline=test_pipeline)
    layout = output_layout(options.view_as(EmbedOptions))
    with FileSystems.open(layout.summary) as f:
        summary = json.loads(f.read())
    print(json.dumps(summary, indent=2, sort_keys=True))
    print(f"Records: {summary['outputs']['records']}  Summary: {layout.summary}")
    return result


def main(argv=None) -> None:
    """Console script `gemma4-embed` and `python -m gemma4_audio_embed`; `gemma4-embed verify OUTPUT_PREFIX` checks a finished output.

    A `LaunchError` is printed as one line, `gemma4-embed: error: <message>`, with exit status 2
    (argparse's convention); errors while the job runs keep Beam's behaviour.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["verify"]:
        from gemma4_audio_embed.pipeline import verify

        sys.exit(verify.main(argv[1:]))
    from gemma4_audio_embed.pipeline.options import PROG
    from gemma4_audio_embed.pipeline.options import LaunchError

    logging.getLogger().setLevel(logging.INFO)
    for chatty in ("httpx", "httpx2"):  # huggingface_hub's HTTP clients log every request at INFO
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        run(argv)
    except LaunchError as error:
        print(f"{PROG}: error: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(2)
