"""Flex Template entry point: the template launcher runs this file with the job's parameters as flags.

The images copy it to /opt/gemma4/flex_template_main.py and name it in FLEX_TEMPLATE_PYTHON_PY_FILE;
their $GEMMA4_ACCELERATOR says which worker flags (`pipeline.deploy.image_args`) go before the
launcher's, so that a parameter given at launch (`compute_dtype=float32`) wins over the image's
default. It submits the graph without waiting: the launcher VM only turns the program into a job,
so there is no finished job to summarise (`pipeline.main.run` waits for one and reads its metrics).
"""

import logging
import os
import sys

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.deploy import ACCELERATORS
from pipeline.deploy import image_args
from pipeline.graph import build_graph
from pipeline.options import EmbedOptions
from pipeline.options import check_embed_options


def launch(argv: list[str], accelerator: str) -> beam.runners.runner.PipelineResult:
    """Builds the embedding job from `image_args(accelerator) + argv` and submits it.

    Raises ValueError for an `accelerator` that is not `"gpu"` or `"tpu"`, and when `argv` lacks
    `--sdk_container_image`: without it the workers would start Beam's stock image, which has
    neither JAX nor the baked weights.
    """
    if accelerator not in ACCELERATORS:
        raise ValueError(f"$GEMMA4_ACCELERATOR must be one of {sorted(ACCELERATORS)}. Received: {accelerator!r}")
    if not any(arg.startswith("--sdk_container_image") for arg in argv):
        raise ValueError(
            "Pass the image itself as the sdk_container_image parameter "
            "(gcloud dataflow flex-template run ... --parameters sdk_container_image=IMAGE)."
        )
    options = PipelineOptions([*image_args(accelerator), *argv])
    embed = options.view_as(EmbedOptions)
    check_embed_options(embed)
    pipeline = beam.Pipeline(options=options)
    build_graph(pipeline, embed)
    return pipeline.run()


if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    launch(sys.argv[1:], os.environ.get("GEMMA4_ACCELERATOR", ""))
