# Dataflow custom SDK container for TPU workers (TPU v5e or v6e slices of 1, 4 or 8 chips per VM), also
# usable as the Flex Template image. Same stages as deploy/gpu.Dockerfile, whose comments hold the
# reasons; only the JAX build and the device settings differ. Build from the repository root:
#
#   docker build -f deploy/tpu.Dockerfile --build-arg HF_CHECKPOINT=checkpoints/gemma-4-e2b-it -t IMAGE .

ARG BEAM_VERSION=2.77.0

FROM apache/beam_python3.11_sdk:${BEAM_VERSION} AS beam_sdk
FROM gcr.io/dataflow-templates-base/python311-template-launcher-base:flex_templates_base_image_release_20240628_RC00 AS flex_launcher

FROM python:3.11.13-slim-bookworm AS runtime
ARG BEAM_VERSION
ARG JAX_VERSION=0.10.2
COPY --from=beam_sdk /opt/apache/beam /opt/apache/beam
COPY --from=flex_launcher /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher
WORKDIR /opt/gemma4/src
COPY pyproject.toml README.md ./
COPY gemma4_audio_embed gemma4_audio_embed
# jax[tpu] brings libtpu from PyPI, pinned by the JAX release.
RUN pip install --no-cache-dir \
        "apache-beam[gcp]==${BEAM_VERSION}" \
        "jax[tpu]==${JAX_VERSION}" \
        . \
    && pip check
COPY deploy/flex_template_main.py /opt/gemma4/flex_template_main.py
ENV KERAS_BACKEND=jax \
    GEMMA4_ACCELERATOR=tpu \
    FLEX_TEMPLATE_PYTHON_PY_FILE=/opt/gemma4/flex_template_main.py
# Fail at start-up when no TPU is visible instead of quietly running on the CPU. A TPU opens in
# one process only: gemma4_audio_embed/pipeline/deploy.py asks for one SDK process per VM.
ENV JAX_PLATFORMS=tpu

FROM runtime AS weights
ARG HF_CHECKPOINT=checkpoints/gemma-4-e2b-it
COPY ${HF_CHECKPOINT} /tmp/hf_checkpoint
RUN JAX_PLATFORMS=cpu python -m gemma4_audio_embed.encoder.convert --hf_checkpoint /tmp/hf_checkpoint --output /opt/gemma4/audio_encoder.keras

FROM runtime
# gemma4_audio_embed/pipeline/deploy.py passes this path as --weights.
COPY --from=weights /opt/gemma4/audio_encoder.keras /opt/gemma4/audio_encoder.keras
ENTRYPOINT ["/opt/apache/beam/boot"]
