#!/usr/bin/env bash
# Builds the image and pushes it to Amazon ECR as ACCOUNT.dkr.ecr.REGION.amazonaws.com/IMAGE:TAG.
# usage: ./build_and_push.sh IMAGE [TAG]
#   account: aws sts get-caller-identity; region: AWS_REGION, else AWS_DEFAULT_REGION, else aws configure.
#   Creates the ECR repository if it is missing. Prints the image URI last.
set -euo pipefail

die() { echo "build_and_push: $*" >&2; exit 1; }

if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
  echo "usage: $0 IMAGE [TAG]   (TAG defaults to latest)" >&2
  exit 2
fi
image="$1"
tag="${2:-latest}"
[[ "$image" =~ ^[a-z0-9]+([._/-][a-z0-9]+)*$ ]] || die "IMAGE \"$image\" is not a valid ECR repository name (lower-case letters, digits, . _ - /)"
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "TAG \"$tag\" is not a valid image tag"
cd "$(dirname "$0")"

for tool in aws docker; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed or not on PATH"
done

account=$(aws sts get-caller-identity --query Account --output text) \
  || die "cannot read the AWS account (aws sts get-caller-identity failed): check your credentials"
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
[ -n "$region" ] || region=$(aws configure get region 2>/dev/null || true)
[ -n "$region" ] || die "no AWS region: set AWS_REGION or run 'aws configure set region REGION'"

registry="$account.dkr.ecr.$region.amazonaws.com"
uri="$registry/$image:$tag"

if ! aws ecr describe-repositories --region "$region" --repository-names "$image" >/dev/null 2>&1; then
  echo "build_and_push: creating ECR repository $image in $region" >&2
  aws ecr create-repository --region "$region" --repository-name "$image" >/dev/null \
    || die "could not create ECR repository $image in $region"
fi

# The password goes through a pipe only: never on a command line or in the output.
aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry" >/dev/null \
  || die "docker login to $registry failed"

docker build -t "$image:$tag" . || die "docker build failed; nothing was pushed"
docker tag "$image:$tag" "$uri" || die "docker tag failed; nothing was pushed"
docker push "$uri" || die "docker push of $uri failed"
echo "$uri"
