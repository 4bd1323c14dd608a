#!/usr/bin/env bash
# Builds the trainer image (trainer/Dockerfile) and pushes it to the stack's ECR repository,
# tagged with its content hash: the tag the stack's job definition runs (infra/bundles.ts).
#
# Usage: scripts/push-image.sh [--stack NAME] [--no-build] [--up] [-- DOCKER_BUILD_ARGS...]
#   --stack NAME  the Pulumi stack (default: the selected one)
#   --no-build    skip `npm run build` (dist/ is already current)
#   --up          run `pulumi up --yes` afterwards, so the job definition points at the image
#   -- ...        passed to `docker build`, e.g. -- --build-arg TFJS_NODE_CDN_STORAGE=https://mirror/
#
# Needs: Node 20 + `npm ci`, docker (buildx for --platform on non-amd64 hosts), the AWS CLI v2
# and the Pulumi CLI, with credentials for the stack's account. Run `pulumi up` once before the
# first push: it creates the ECR repository.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

stack_args=()
build=1
deploy=0
while [ $# -gt 0 ]; do
  case "$1" in
    --stack | -s)
      stack_args=(--stack "${2:?--stack needs a name}")
      shift 2
      ;;
    --no-build) build=0 && shift ;;
    --up) deploy=1 && shift ;;
    -h | --help) usage && exit 0 ;;
    --) shift && break ;;
    *) echo "push-image: unknown option $1 (see --help)" >&2 && exit 2 ;;
  esac
done

for tool in node npx docker aws pulumi; do
  command -v "$tool" >/dev/null 2>&1 || { echo "push-image: '$tool' is required" >&2; exit 1; }
done

pulumi_() { pulumi "$@" ${stack_args[@]+"${stack_args[@]}"}; }

if [ "$build" = 1 ]; then
  npm run build
fi

bundle_dir="$(pulumi_ config get foldsweep:bundleDir 2>/dev/null || echo dist)"
tag="$(npx --no-install tsx infra/image-tag.ts "$bundle_dir")"
if ! repo="$(pulumi_ stack output trainerRepositoryUrl 2>/dev/null)" || [ -z "$repo" ]; then
  echo "push-image: the stack has no trainerRepositoryUrl output yet: run 'pulumi up' first" >&2
  exit 1
fi
region="$(pulumi_ stack output awsRegion)"
registry="${repo%%/*}"
repository="${repo#*/}"
image="${repo}:${tag}"

if aws ecr describe-images --region "$region" --repository-name "$repository" \
  --image-ids imageTag="$tag" >/dev/null 2>&1; then
  echo "push-image: ${image} is already in ECR (tags are immutable): nothing to build"
else
  aws ecr get-login-password --region "$region" |
    docker login --username AWS --password-stdin "$registry"
  docker build --platform linux/amd64 --file trainer/Dockerfile --tag "$image" "$@" .
  docker push "$image"
  echo "push-image: pushed ${image}"
fi

if [ "$deploy" = 1 ]; then
  pulumi_ up --yes
else
  echo "push-image: now run 'pulumi up' so the job definition runs tag ${tag}"
fi
