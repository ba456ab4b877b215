"""Flex Template entry point: the template launcher runs this file with the job's parameters as flags.

The images copy it to /opt/gemma4/flex_template_main.py and name it in FLEX_TEMPLATE_PYTHON_PY_FILE;
their $GEMMA4_ACCELERATOR says which worker flags (`pipeline.deploy.image_args`) go before the
launcher's, so that a parameter given at launch (`compute_dtype=float32`) wins over the image's
default. The launch is the CLI's (`pipeline.launch.prepare`: flag, input and model checks, the
output stamp); it submits without waiting, and the job writes its own summary as its last step.
"""

import logging
import os
import sys

import apache_beam as beam

from gemma4_audio_embed.pipeline.deploy import ACCELERATORS
from gemma4_audio_embed.pipeline.deploy import image_args
from gemma4_audio_embed.pipeline.launch import prepare
from gemma4_audio_embed.pipeline.launch import submit
from gemma4_audio_embed.pipeline.options import LaunchError


def launch(argv: list[str], accelerator: str) -> beam.runners.runner.PipelineResult:
    """Checks and submits the embedding job of `image_args(accelerator) + argv`, without waiting.

    Raises ValueError for an `accelerator` that is not `"gpu"` or `"tpu"`, and when `argv` lacks
    `--sdk_container_image`: without it the workers would start Beam's stock image, which has
    neither JAX nor the baked weights. Raises `LaunchError` as the CLI does; run as a script, either
    is printed as one line, `flex_template_main: error: <message>`, with exit status 2.
    """
    if accelerator not in ACCELERATORS:
        raise ValueError(f"$GEMMA4_ACCELERATOR must be one of {sorted(ACCELERATORS)}. Received: {accelerator!r}")
    if not any(arg.startswith("--sdk_container_image") for arg in argv):
        raise ValueError(
            "Pass the image itself as the sdk_container_image parameter "
            "(gcloud dataflow flex-template run ... --parameters sdk_container_image=IMAGE)."
        )
    options = prepare([*image_args(accelerator), *argv], default_runner=False)
    return submit(options, wait=False)


if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    try:
        launch(sys.argv[1:], os.environ.get("GEMMA4_ACCELERATOR", ""))
    except (LaunchError, ValueError) as error:
        print(f"flex_template_main: error: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(2)
