#!/usr/bin/env bash
# Cross-check the local S3 server with a real SDK signer (Debian's awscli /
# botocore): upload/list/download/delete of keys with '=', ' ' and '+',
# a multipart upload, presigned GET (s3v4), and a wrong secret refused.
# Manual tool (not run by ctest): tests/s3/crosscheck_awscli.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v aws >/dev/null || { echo "crosscheck: aws (awscli) not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap '"$here/stop" "$tmp"; rm -rf "$tmp"' EXIT
"$here/start" "$tmp" >/dev/null
# shellcheck disable=SC1091
source "$tmp/s3.env"
export AWS_ACCESS_KEY_ID=$ZM_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$ZM_TEST_S3_SECRET_KEY
export AWS_DEFAULT_REGION=$ZM_TEST_S3_REGION AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=$tmp/awscfg
printf '[default]\ns3 =\n    signature_version = s3v4\n' > "$tmp/awscfg"
aws=(aws --endpoint-url "$ZM_TEST_S3_ENDPOINT")
b=s3://$ZM_TEST_S3_BUCKET
key="data/hotkey=5F x/epoch=1/a+b.json"

printf '{"x":1}\n' > "$tmp/small"
head -c 20000000 /dev/urandom > "$tmp/big"
"${aws[@]}" s3 cp --quiet "$tmp/small" "$b/$key"
"${aws[@]}" s3 cp --quiet "$tmp/big" "$b/big.bin"                  # multipart (8 MiB parts)
"${aws[@]}" s3 ls --recursive "$b/" | grep -qF "$key"
"${aws[@]}" s3 cp --quiet "$b/$key" "$tmp/small.back" && cmp "$tmp/small" "$tmp/small.back"
"${aws[@]}" s3 cp --quiet "$b/big.bin" "$tmp/big.back" && cmp "$tmp/big" "$tmp/big.back"
url=$("${aws[@]}" s3 presign "$b/$key" --expires-in 60)
curl -sf -o "$tmp/small.pre" "$url" && cmp "$tmp/small" "$tmp/small.pre"
if AWS_SECRET_ACCESS_KEY=wrong "${aws[@]}" s3 ls "$b/" 2>"$tmp/err"; then
  echo "crosscheck: wrong secret accepted" >&2; exit 1
fi
grep -q SignatureDoesNotMatch "$tmp/err"
"${aws[@]}" s3 rm --quiet --recursive "$b/data/"                   # DeleteObjects (POST ?delete)
[ -z "$("${aws[@]}" s3 ls --recursive "$b/data/")" ]
echo "crosscheck: awscli $(aws --version 2>&1 | cut -d' ' -f1) agrees with the server"
