# Dataflow custom SDK container for GPU workers (NVIDIA L4s on g2-standard VMs), also usable
# as the Flex Template image. Build from the repository root; the checkpoint folder must lie under
# checkpoints/ (deploy/gpu.Dockerfile.dockerignore sends nothing else of the tree):
#
#   docker build -f deploy/gpu.Dockerfile --build-arg HF_CHECKPOINT=checkpoints/gemma-4-e2b-it -t IMAGE .
#
# Keras runs on JAX (jax[cuda12]) rather than TensorFlow GPU: its wheels bring CUDA and cuDNN from
# PyPI, so a slim Python base needs only the driver Dataflow installs; the TPU image runs the same
# backend and XLA programs; and the test suite checks the encoder on JAX.
#
# Stages: beam_sdk and flex_launcher only lend binaries; runtime installs the project; weights
# converts the checkpoint on CPU so that only the .keras file, not the checkpoint, reaches the
# final image.

# The boot binary and the apache-beam wheel must be the same release, and the launching machine's
# too (deploy/README.md), else workers fail at start-up.
ARG BEAM_VERSION=2.77.0

FROM apache/beam_python3.11_sdk:${BEAM_VERSION} AS beam_sdk
FROM gcr.io/dataflow-templates-base/python311-template-launcher-base:flex_templates_base_image_release_20240628_RC00 AS flex_launcher

FROM python:3.11.13-slim-bookworm AS runtime
ARG BEAM_VERSION
# The release the test suite runs (tests/deploy/test_dockerfiles.py checks it).
ARG JAX_VERSION=0.10.2
COPY --from=beam_sdk /opt/apache/beam /opt/apache/beam
COPY --from=flex_launcher /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher
WORKDIR /opt/gemma4/src
COPY pyproject.toml README.md ./
COPY gemma4_audio_embed gemma4_audio_embed
RUN pip install --no-cache-dir \
        "apache-beam[gcp]==${BEAM_VERSION}" \
        "jax[cuda12]==${JAX_VERSION}" \
        . \
    && pip check
COPY deploy/flex_template_main.py /opt/gemma4/flex_template_main.py
ENV KERAS_BACKEND=jax \
    GEMMA4_ACCELERATOR=gpu \
    FLEX_TEMPLATE_PYTHON_PY_FILE=/opt/gemma4/flex_template_main.py
# Fail at start-up when no GPU is visible instead of quietly running on the CPU.
ENV JAX_PLATFORMS=cuda
# One SDK process per VM (gemma4_audio_embed/pipeline/deploy.py): it allocates as it goes rather than taking 75% up
# front, and at most 90% of the L4. JAX 0.10 reads XLA_CLIENT_MEM_FRACTION and refuses to start
# when the deprecated XLA_PYTHON_CLIENT_MEM_FRACTION is set beside it.
ENV XLA_PYTHON_CLIENT_PREALLOCATE=false \
    XLA_CLIENT_MEM_FRACTION=0.90
# TensorFlow is installed (pyproject.toml) though the job does not import it; should anything import it,
# it must not claim the whole GPU.
ENV TF_FORCE_GPU_ALLOW_GROWTH=true
# --compute_dtype float32 means float32: no TF32 in any CUDA library (cuBLAS, cuDNN) of any
# framework. make_predict_fn asks for full precision itself (gemma4_audio_embed/encoder/precision.py); this also
# covers code that does not. bfloat16 products are unaffected.
ENV NVIDIA_TF32_OVERRIDE=0
# install-nvidia-driver mounts the driver under /usr/local/nvidia; CUDA base images put it on these
# paths, a slim base must do so itself.
ENV PATH=/usr/local/nvidia/bin:${PATH} \
    LD_LIBRARY_PATH=/usr/local/nvidia/lib64

FROM runtime AS weights
ARG HF_CHECKPOINT=checkpoints/gemma-4-e2b-it
COPY ${HF_CHECKPOINT} /tmp/hf_checkpoint
RUN JAX_PLATFORMS=cpu python -m gemma4_audio_embed.encoder.convert --hf_checkpoint /tmp/hf_checkpoint --output /opt/gemma4/audio_encoder.keras

FROM runtime
# gemma4_audio_embed/pipeline/deploy.py passes this path as --weights.
COPY --from=weights /opt/gemma4/audio_encoder.keras /opt/gemma4/audio_encoder.keras
ENTRYPOINT ["/opt/apache/beam/boot"]
