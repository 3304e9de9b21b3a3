#!/usr/bin/env bash
# Builds the image and pushes it to Amazon ECR as ACCOUNT.dkr.ecr.REGION.amazonaws.com/IMAGE:TAG.
# usage: ./build_and_push.sh IMAGE [TAG]
set -euo pipefail

if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
  echo "usage: $0 IMAGE [TAG]   (TAG defaults to latest)" >&2
  exit 2
fi
image="$1"
tag="${2:-latest}"
cd "$(dirname "$0")"

for tool in aws docker; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build_and_push: '$tool' is not installed or not on PATH" >&2; exit 1; }
done

account=$(aws sts get-caller-identity --query Account --output text) \
  || { echo "build_and_push: cannot read the AWS account (aws sts get-caller-identity failed: check your credentials)" >&2; exit 1; }
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region || true)}}"
[ -n "$region" ] || { echo "build_and_push: no AWS region: set AWS_REGION or run aws configure" >&2; exit 1; }

registry="$account.dkr.ecr.$region.amazonaws.com"
uri="$registry/$image:$tag"

if ! aws ecr describe-repositories --region "$region" --repository-names "$image" >/dev/null 2>&1; then
  echo "build_and_push: creating ECR repository $image in $region"
  aws ecr create-repository --region "$region" --repository-name "$image" >/dev/null
fi

# The password goes through a pipe only: never on a command line or in the output.
aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry" >/dev/null

docker build -t "$image:$tag" .
docker tag "$image:$tag" "$uri"
docker push "$uri"
echo "$uri"
