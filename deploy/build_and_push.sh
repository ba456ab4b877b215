#!/usr/bin/env bash
# Builds the Dataflow worker images from deploy/<accelerator>.Dockerfile and pushes them to
# Artifact Registry as REGION-docker.pkg.dev/PROJECT/REPOSITORY/gemma4-<accelerator>:TAG.
#
#   deploy/build_and_push.sh PROJECT REGION REPOSITORY TAG [gpu|tpu|all]
#
# Run from anywhere; the build context is the repository root. HF_CHECKPOINT (default
# checkpoints/gemma-4-e2b-it) is the checkpoint folder, relative to the root, that the image's
# encoder is converted from. Needs Docker with BuildKit (for deploy/*.Dockerfile.dockerignore) and
# `gcloud auth configure-docker REGION-docker.pkg.dev` once.
set -euo pipefail

if [[ $# -lt 4 || $# -gt 5 ]]; then
  echo "usage: $0 PROJECT REGION REPOSITORY TAG [gpu|tpu|all]" >&2
  exit 2
fi
project=$1 region=$2 repository=$3 tag=$4 which=${5:-all}
if [[ $tag == latest ]]; then
  echo "error: TAG must not be latest: every worker of a job must pull the same build." >&2
  exit 2
fi
case $which in
  gpu|tpu) accelerators=("$which") ;;
  all) accelerators=(gpu tpu) ;;
  *) echo "error: the fifth argument must be gpu, tpu or all; got '$which'." >&2; exit 2 ;;
esac
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
checkpoint=${HF_CHECKPOINT:-checkpoints/gemma-4-e2b-it}
if [[ ! -f $root/$checkpoint/config.json ]]; then
  echo "error: $root/$checkpoint/config.json not found: set HF_CHECKPOINT to the checkpoint folder under checkpoints/." >&2
  exit 2
fi

for accelerator in "${accelerators[@]}"; do
  image=$region-docker.pkg.dev/$project/$repository/gemma4-$accelerator:$tag
  # Dataflow workers are x86-64; without --platform an ARM laptop would build an arm64 image.
  DOCKER_BUILDKIT=1 docker build \
    --platform=linux/amd64 \
    -f "$root/deploy/$accelerator.Dockerfile" \
    --build-arg "HF_CHECKPOINT=$checkpoint" \
    -t "$image" \
    "$root"
  docker push "$image"
  echo "pushed $image"
done
