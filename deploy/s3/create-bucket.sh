#!/bin/sh
# One-shot job (service s3-setup, image amazon/aws-cli): creates the output bucket in the local S3
# store. Safe to re-run: an existing bucket is left as it is.
# Environment: S3_ENDPOINT, BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION.
set -eu

: "${S3_ENDPOINT:?}" "${BUCKET:?}" "${AWS_ACCESS_KEY_ID:?}" "${AWS_SECRET_ACCESS_KEY:?}"
# Local stores answer on a plain host name, not on <bucket>.<host>.
aws configure set default.s3.addressing_style path

if aws --endpoint-url "$S3_ENDPOINT" s3api head-bucket --bucket "$BUCKET" >/dev/null 2>&1; then
  echo "bucket $BUCKET exists"
else
  echo "creating bucket $BUCKET"
  aws --endpoint-url "$S3_ENDPOINT" s3api create-bucket --bucket "$BUCKET"
fi
