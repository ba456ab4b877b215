#!/usr/bin/env bash
# Builds a Dataflow Flex Template spec from a pushed worker image (deploy/build_and_push.sh) and
# deploy/flex_template_metadata.json. The image serves as both the launcher and the workers' SDK
# container: it holds Google's Python template launcher and names deploy/flex_template_main.py in
# FLEX_TEMPLATE_PYTHON_PY_FILE.
#
#   deploy/build_flex_template.sh IMAGE gs://BUCKET/templates/gemma4-gpu.json PROJECT
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 IMAGE TEMPLATE_GCS_PATH PROJECT" >&2
  exit 2
fi
image=$1 template=$2 project=$3
if [[ $template != gs://* ]]; then
  echo "error: TEMPLATE_GCS_PATH must start with gs://; got '$template'." >&2
  exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

gcloud dataflow flex-template build "$template" \
  --image="$image" \
  --sdk-language=PYTHON \
  --metadata-file="$root/deploy/flex_template_metadata.json" \
  --project="$project"

cat <<RUN
Built $template. Run it with (the image again as sdk_container_image, or workers get Beam's stock image):

  gcloud dataflow flex-template run "gemma4-embed-\$(date -u +%Y%m%d-%H%M%S)" \\
    --project=$project \\
    --region=REGION \\
    --template-file-gcs-location=$template \\
    --staging-location=gs://BUCKET/staging \\
    --temp-location=gs://BUCKET/tmp \\
    --max-workers=4 \\
    --parameters=sdk_container_image=$image \\
    --parameters=input=gs://BUCKET/audio/*.flac \\
    --parameters=output=gs://BUCKET/embeddings/run1
RUN
