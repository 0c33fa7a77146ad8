#!/usr/bin/env bash
# Cross-check with a client we did not write: objects PUT by common/s3 (through test_s3 in
# its ZM_S3_AWSCLI_DIR mode: awkward keys, a 3 MiB object) are listed (s3api
# list-objects-v2) and fetched (s3 cp --recursive, s3api get-object) by Debian's aws CLI
# against the local S3 server, and must come back byte-identical, with the sizes we wrote.
#
# Env: ZM_BUILD_DIR (ctest), ZM_TEST_S3_* (tests/run). Fails, never skips, when one is
# missing or the aws CLI is not installed.
set -euo pipefail

for v in ZM_BUILD_DIR ZM_TEST_S3_ENDPOINT ZM_TEST_S3_REGION ZM_TEST_S3_ACCESS_KEY \
         ZM_TEST_S3_SECRET_KEY ZM_TEST_S3_BUCKET; do
    if [ -z "${!v:-}" ]; then
        echo "required test environment $v is not set: run tests/run" >&2
        exit 1
    fi
done
command -v aws >/dev/null || { echo "aws CLI not installed (apt-get install awscli)" >&2; exit 1; }

helper=""
for p in "$ZM_BUILD_DIR/bin/test_s3" "$ZM_BUILD_DIR/tests/test_s3"; do
    [ -x "$p" ] && helper=$p && break
done
[ -n "$helper" ] || { echo "test_s3 not built under $ZM_BUILD_DIR" >&2; exit 1; }

work=$(mktemp -d /tmp/zm-awscli-XXXXXX)
trap 'rm -rf "$work"' EXIT

ZM_S3_AWSCLI_DIR=$work "$helper" >/dev/null

export AWS_ACCESS_KEY_ID=$ZM_TEST_S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$ZM_TEST_S3_SECRET_KEY
export AWS_DEFAULT_REGION=$ZM_TEST_S3_REGION
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
awscli() { aws --endpoint-url "$ZM_TEST_S3_ENDPOINT" --output json "$@"; }

prefix=$(head -n 1 "$work/manifest")
awscli s3api list-objects-v2 --bucket "$ZM_TEST_S3_BUCKET" --prefix "$prefix" > "$work/list.json"

# Every key we wrote is listed once, with the size of our local copy, and nothing else.
python3 - "$work/manifest" "$work/list.json" <<'EOF'
import json, os, sys
manifest = open(sys.argv[1], encoding='utf-8').read().splitlines()[1:]
want = {}
for line in manifest:
    key, path = line.split('\t')
    want[key] = os.path.getsize(path)
listed = json.load(open(sys.argv[2], encoding='utf-8')).get('Contents', [])
got = {o['Key']: o['Size'] for o in listed}
if len(listed) != len(got) or got != want:
    print('listing mismatch:\n  want', want, '\n  got ', got, file=sys.stderr)
    sys.exit(1)
print(f'aws CLI lists the {len(got)} objects we wrote, sizes equal')
EOF

# Fetch: the whole prefix in one CLI run (each run costs seconds of Python start-up), plus
# one s3api get-object of the most awkward key.
awscli s3 cp --recursive --only-show-errors "s3://$ZM_TEST_S3_BUCKET/$prefix" "$work/tree/"
n=0
while IFS=$'\t' read -r key path; do
    if ! cmp -s "$path" "$work/tree/${key#"$prefix"}"; then
        echo "aws CLI fetched different bytes for key [$key]" >&2
        exit 1
    fi
    n=$((n + 1))
done < <(tail -n +2 "$work/manifest")
[ "$n" -ge 5 ] || { echo "only $n objects checked" >&2; exit 1; }
key=$(sed -n 3p "$work/manifest" | cut -f1)
path=$(sed -n 3p "$work/manifest" | cut -f2)
awscli s3api get-object --bucket "$ZM_TEST_S3_BUCKET" --key "$key" "$work/one" >/dev/null
cmp -s "$path" "$work/one" || { echo "get-object [$key]: bytes differ" >&2; exit 1; }
echo "aws CLI fetched $n objects byte-identical"
