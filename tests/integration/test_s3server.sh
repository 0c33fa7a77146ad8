#!/usr/bin/env bash
# The local S3 server (tests/s3) really enforces Signature V4, presigned URLs
# and POST policies, survives malformed input, and stops by PID.
# Starts a private instance on a temp dir; needs node + tests/node/node_modules and curl.
# One line per case: "ok   NAME" or "FAIL NAME (...)"; exit 1 if any case failed.
set -uo pipefail

src=${ZM_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export ZM_TEST_NODE_DIR=${ZM_TEST_NODE_DIR:-$src/tests/node}
s3dir=$src/tests/s3
for tool in node curl; do
  command -v "$tool" >/dev/null || { echo "FAIL setup: $tool not found"; exit 1; }
done
[ -d "$ZM_TEST_NODE_DIR/node_modules/s3rver" ] || { echo "FAIL setup: $ZM_TEST_NODE_DIR/node_modules missing"; exit 1; }

tmp=$(mktemp -d)
cleanup() { "$s3dir/stop" "$tmp" >/dev/null 2>&1; rm -rf "$tmp"; }
trap cleanup EXIT

fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1 ($2)"; fails=$((fails + 1)); }

# Server: two key pairs, a 4 MiB body cap and 4 MiB for all buffered bodies (to test the caps cheaply).
t0=$(date +%s%N)
if ! ZM_S3_KEYS="zipmine:zipmine-secret-key,second:second-secret" ZM_S3_MAX_BODY=4194304 ZM_S3_MAX_BUFFERED=4194304 \
     "$s3dir/start" "$tmp" >/dev/null; then
  echo "FAIL start"; cat "$tmp/s3.log" 2>/dev/null; exit 1
fi
t1=$(date +%s%N)
pass "start ($(( (t1 - t0) / 1000000 )) ms)"
# shellcheck disable=SC1091
source "$tmp/s3.env"
E=$ZM_TEST_S3_ENDPOINT
B=$ZM_TEST_S3_BUCKET
pid=$(cat "$tmp/s3.pid")
[ "$ZM_TEST_S3_REGION" = us-east-1 ] && [ "$ZM_TEST_S3_ACCESS_KEY" = zipmine ] && [ "$B" = zipmine ] \
  && pass "s3.env exported" || fail "s3.env exported" "$(cat "$tmp/s3.env")"

# req OUT curl-args... : runs curl, body to $tmp/OUT, prints the HTTP status.
req() { local out=$1; shift; curl -s -m 20 -o "$tmp/$out" -w '%{http_code}' "$@"; }
errcode() { sed -n 's:.*<Code>\([^<]*\)</Code>.*:\1:p' "$tmp/$1" | head -n1; }
# expect NAME GOT_STATUS WANT_STATUS [OUT WANT_S3_CODE]
expect() {
  local name=$1 got=$2 want=$3 out=${4:-} code=${5:-}
  if [ "$got" != "$want" ]; then
    fail "$name" "HTTP $got, want $want: $(head -c 300 "$tmp/$out" 2>/dev/null)"
  elif [ -n "$code" ] && [ "$(errcode "$out")" != "$code" ]; then
    fail "$name" "S3 code '$(errcode "$out")', want $code"
  else
    pass "$name"
  fi
}
sig=(--aws-sigv4 "aws:amz:us-east-1:s3")
me=(--user "$ZM_TEST_S3_ACCESS_KEY:$ZM_TEST_S3_SECRET_KEY")
unsigned=(-H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
empty_sha=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
# signed_headers ARRAY_NAME sigv4.mjs-args... : smithy-signed headers as curl -H args
signed_headers() {
  local -n _arr=$1; shift
  _arr=()
  local h
  while IFS= read -r h; do _arr+=(-H "$h"); done < <(node "$s3dir/sigv4.mjs" headers "$@")
}

printf '{"epoch_id":"e1","zipcode":"10001","listings":[]}\n' > "$tmp/obj.json"
obj_sha=$(sha256sum "$tmp/obj.json" | cut -d' ' -f1)
key="data/hotkey%3D5Fabc/epoch%3De1/zipcode%3D10001/data_20260101_000000.json"
dkey="data/hotkey=5Fabc/epoch=e1/zipcode=10001/data_20260101_000000.json"

# ---- header-signed requests (curl's own signer)
s=$(req put1 "${sig[@]}" "${me[@]}" -H "x-amz-content-sha256: $obj_sha" -T "$tmp/obj.json" "$E/$B/$key")
expect "PUT signed by curl (payload sha256 verified)" "$s" 200 put1
s=$(req get1 "${sig[@]}" "${me[@]}" -H "x-amz-content-sha256: $empty_sha" "$E/$B/$key")
expect "GET signed by curl" "$s" 200 get1
cmp -s "$tmp/get1" "$tmp/obj.json" && pass "GET returns the bytes PUT" || fail "GET returns the bytes PUT" "content differs"
s=$(req list1 "${sig[@]}" "${me[@]}" "${unsigned[@]}" "$E/$B?list-type=2&prefix=data%2F")
expect "LIST (ListObjectsV2) signed by curl" "$s" 200 list1
grep -q "<Key>$dkey</Key>" "$tmp/list1" && pass "LIST shows the key" || fail "LIST shows the key" "$(head -c 300 "$tmp/list1")"
s=$(req head1 -I "${sig[@]}" "${me[@]}" "${unsigned[@]}" "$E/$B/$key")
expect "HEAD signed by curl" "$s" 200 head1
s=$(req second "${sig[@]}" --user second:second-secret "${unsigned[@]}" "$E/$B/$key")
expect "GET with the second key pair" "$s" 200 second

# LastModified passes through byte-exact: the proxy's listing equals s3rver's own.
curl -s -m 10 --unix-socket "$tmp/s3/s3rver.sock" -o "$tmp/list_direct" "http://127.0.0.1/$B?list-type=2&prefix=data%2F"
if cmp -s "$tmp/list1" "$tmp/list_direct" && grep -q '<LastModified>' "$tmp/list1"; then
  pass "listing (LastModified) identical to s3rver's"
else
  fail "listing (LastModified) identical to s3rver's" "proxy and direct listings differ"
fi

# ListObjectsV2 pagination: 3 keys, max-keys=1, continuation tokens (smithy-signed: curl 7.88
# does not sort query parameters when signing)
sget() { # sget OUT URL : GET signed by smithy, prints the status
  local out=$1 u=$2 h=() l
  while IFS= read -r l; do h+=(-H "$l"); done < <(node "$s3dir/sigv4.mjs" headers --url "$u")
  req "$out" "${h[@]}" "$u"
}
for k in a b c; do
  printf '%s' "$k" > "$tmp/page_$k"
  curl -s -o /dev/null "${sig[@]}" "${me[@]}" "${unsigned[@]}" -T "$tmp/page_$k" "$E/$B/pages/$k"
done
token=""; seen=""; pages=0
while [ $pages -lt 5 ]; do
  u="$E/$B?list-type=2&max-keys=1&prefix=pages%2F"
  [ -n "$token" ] && u="$u&continuation-token=$(node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$token")"
  s=$(sget page "$u")
  [ "$s" = 200 ] || break
  pages=$((pages + 1))
  seen="$seen$(sed -n 's:.*<Key>pages/\([^<]*\)</Key>.*:\1:p' "$tmp/page")"
  token=$(sed -n 's:.*<NextContinuationToken>\([^<]*\)</NextContinuationToken>.*:\1:p' "$tmp/page")
  [ -n "$token" ] || break
done
[ "$s" = 200 ] && [ "$seen" = abc ] && [ "$pages" = 3 ] && grep -q '<IsTruncated>false</IsTruncated>' "$tmp/page" \
  && pass "ListObjectsV2 pages with continuation tokens (a, b, c)" \
  || fail "ListObjectsV2 pages with continuation tokens" "HTTP $s, pages $pages, keys '$seen': $(head -c 300 "$tmp/page")"
s=$(sget badtoken "$E/$B?list-type=2&continuation-token=AAAAAAAAAAAAAAAAAAAAAA%3D%3D")
expect "undecryptable continuation token -> 400 (s3rver alone: 500)" "$s" 400 badtoken InvalidArgument

# ---- refused header-signed requests
s=$(req wrong "${sig[@]}" --user "$ZM_TEST_S3_ACCESS_KEY:not-the-secret" "${unsigned[@]}" "$E/$B/$key")
expect "wrong secret -> 403" "$s" 403 wrong SignatureDoesNotMatch
s=$(req wrongput "${sig[@]}" --user "$ZM_TEST_S3_ACCESS_KEY:not-the-secret" -H "x-amz-content-sha256: $obj_sha" \
    -T "$tmp/obj.json" "$E/$B/data/evil.json")
expect "PUT with wrong secret -> 403" "$s" 403 wrongput SignatureDoesNotMatch
s=$(req evil_get "${sig[@]}" "${me[@]}" "${unsigned[@]}" "$E/$B/data/evil.json")
expect "object from the refused PUT does not exist" "$s" 404 evil_get NoSuchKey
s=$(req crossed "${sig[@]}" --user "second:zipmine-secret-key" "${unsigned[@]}" "$E/$B/$key")
expect "secret of another key pair -> 403" "$s" 403 crossed SignatureDoesNotMatch
s=$(req unknown "${sig[@]}" --user "nobody:whatever" "${unsigned[@]}" "$E/$B/$key")
expect "unknown access key -> 403" "$s" 403 unknown InvalidAccessKeyId
s=$(req anon "$E/$B/$key")
expect "anonymous GET -> 403" "$s" 403 anon AccessDenied
s=$(req anonput -T "$tmp/obj.json" "$E/$B/data/anon.json")
expect "anonymous PUT -> 403" "$s" 403 anonput AccessDenied
s=$(req nosha "${sig[@]}" "${me[@]}" "$E/$B/$key")
expect "missing x-amz-content-sha256 -> 400" "$s" 400 nosha InvalidRequest
printf 'something else\n' > "$tmp/other.json"
s=$(req shamis "${sig[@]}" "${me[@]}" -H "x-amz-content-sha256: $obj_sha" -T "$tmp/other.json" "$E/$B/data/shamis.json")
expect "body not matching x-amz-content-sha256 -> 400" "$s" 400 shamis XAmzContentSHA256Mismatch
s=$(req region --aws-sigv4 "aws:amz:eu-west-1:s3" "${me[@]}" "${unsigned[@]}" "$E/$B/$key")
expect "wrong region in credential scope -> 400" "$s" 400 region AuthorizationHeaderMalformed
s=$(req rawkey "${sig[@]}" "${me[@]}" "${unsigned[@]}" "$E/$B/$dkey")
expect "path signed unencoded ('=' must be %3D in the canonical URI, as AWS) -> 403" "$s" 403 rawkey SignatureDoesNotMatch
s=$(req v2 -H "Authorization: AWS $ZM_TEST_S3_ACCESS_KEY:c2lnbmF0dXJl" -H "Date: $(date -u -R)" "$E/$B/$key")
expect "Signature V2 -> 400" "$s" 400 v2 InvalidRequest
s=$(req badauth -H "Authorization: AWS4-HMAC-SHA256 Credential=zipmine" -H "x-amz-date: 20260101T000000Z" \
    "${unsigned[@]}" "$E/$B/$key")
expect "malformed Authorization header -> 400" "$s" 400 badauth AuthorizationHeaderMalformed

# smithy-signed (the AWS SDK's signer): key with '=' and spaces, then a skewed clock
signed_headers hs --method PUT --url "$E/$B/data/a%20b%3Dc/%C3%A9t%C3%A9.json" --body-file "$tmp/obj.json"
s=$(req sm_put -X PUT "${hs[@]}" --data-binary @"$tmp/obj.json" "$E/$B/data/a%20b%3Dc/%C3%A9t%C3%A9.json")
expect "PUT signed by @smithy/signature-v4 (key with space, '=', UTF-8)" "$s" 200 sm_put
signed_headers hs --url "$E/$B/$key" --date-offset -1200
s=$(req skew "${hs[@]}" "$E/$B/$key")
expect "x-amz-date 20 min old -> 403" "$s" 403 skew RequestTimeTooSkewed
signed_headers hs --url "$E/$B/$key"
s=$(req addhdr "${hs[@]}" "$E/$B/$key?versionId=1")
expect "query added after signing -> 403" "$s" 403 addhdr SignatureDoesNotMatch

# aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): every chunk signature checked
head -c 200000 /dev/urandom > "$tmp/chunk_src"
hs=(); while IFS= read -r h; do hs+=(-H "$h"); done < <(node "$s3dir/sigv4.mjs" chunked --method PUT \
  --url "$E/$B/data/chunked.bin" --body-file "$tmp/chunk_src" --out "$tmp/chunk_body" --chunk-size 65536)
s=$(req ch_put -X PUT "${hs[@]}" --data-binary @"$tmp/chunk_body" "$E/$B/data/chunked.bin")
expect "aws-chunked PUT with valid chunk signatures" "$s" 200 ch_put
req ch_get "${sig[@]}" "${me[@]}" "${unsigned[@]}" "$E/$B/data/chunked.bin" >/dev/null
cmp -s "$tmp/ch_get" "$tmp/chunk_src" && pass "aws-chunked object stored decoded" || fail "aws-chunked object stored decoded" "content differs"
hs=(); while IFS= read -r h; do hs+=(-H "$h"); done < <(node "$s3dir/sigv4.mjs" chunked --method PUT \
  --url "$E/$B/data/chunked2.bin" --body-file "$tmp/chunk_src" --out "$tmp/chunk_bad" --chunk-size 65536 --tamper-chunk 2)
s=$(req ch_bad -X PUT "${hs[@]}" --data-binary @"$tmp/chunk_bad" "$E/$B/data/chunked2.bin")
expect "aws-chunked PUT with a tampered chunk -> 403" "$s" 403 ch_bad SignatureDoesNotMatch

# ---- presigned URLs (smithy presign)
url=$(node "$s3dir/sigv4.mjs" presign --url "$E/$B/$key" --expires 120)
s=$(req pre_ok "$url")
expect "presigned GET" "$s" 200 pre_ok
cmp -s "$tmp/pre_ok" "$tmp/obj.json" && pass "presigned GET returns the object" || fail "presigned GET returns the object" "content differs"
s=$(req pre_key "${url/zipcode%3D10001/zipcode%3D10002}")
expect "presigned URL with a changed key -> 403" "$s" 403 pre_key SignatureDoesNotMatch
last=${url: -1}; flip=0; [ "$last" = 0 ] && flip=1
s=$(req pre_sig "${url%?}$flip")
expect "presigned URL with a flipped signature char -> 403" "$s" 403 pre_sig SignatureDoesNotMatch
s=$(req pre_exp_edit "${url/X-Amz-Expires=120/X-Amz-Expires=600}")
expect "presigned URL with X-Amz-Expires raised -> 403" "$s" 403 pre_exp_edit SignatureDoesNotMatch
s=$(req pre_method -X DELETE "$url")
expect "presigned GET URL used for DELETE -> 403" "$s" 403 pre_method SignatureDoesNotMatch
url_old=$(node "$s3dir/sigv4.mjs" presign --url "$E/$B/$key" --expires 60 --date-offset -120)
s=$(req pre_old "$url_old")
expect "expired presigned URL -> 403" "$s" 403 pre_old AccessDenied
grep -q 'Request has expired' "$tmp/pre_old" && pass "expired presigned URL says so" || fail "expired presigned URL says so" "$(head -c 200 "$tmp/pre_old")"
url_put=$(node "$s3dir/sigv4.mjs" presign --method PUT --url "$E/$B/data/presigned-put.json" --expires 60)
s=$(req pre_put -T "$tmp/obj.json" "$url_put")
expect "presigned PUT" "$s" 200 pre_put
url_wrong=$(node "$s3dir/sigv4.mjs" presign --url "$E/$B/$key" --expires 60 --secret not-the-secret)
s=$(req pre_wrong "$url_wrong")
expect "presigned URL signed with a wrong secret -> 403" "$s" 403 pre_wrong SignatureDoesNotMatch

# ---- browser POST uploads (policy from postpolicy.mjs, plain HMAC)
# post OUT KEY FILE [postpolicy args...] [-- extra curl args]
post() {
  local out=$1 k=$2 f=$3; shift 3
  local pol=() extra=() a=() l
  while [ $# -gt 0 ] && [ "$1" != -- ]; do pol+=("$1"); shift; done
  [ $# -gt 0 ] && { shift; extra=("$@"); }
  while IFS= read -r l; do a+=(--form-string "$l"); done < <(node "$s3dir/postpolicy.mjs" "${pol[@]}")
  req "$out" "${a[@]}" --form-string "key=$k" "${extra[@]}" -F "file=@$f" "$E/$B"
}
s=$(post p_ok data/post/one.json "$tmp/obj.json" --prefix data/post/)
expect "POST upload with a valid policy -> 204" "$s" 204 p_ok
req p_get "${sig[@]}" "${me[@]}" "${unsigned[@]}" "$E/$B/data/post/one.json" >/dev/null
cmp -s "$tmp/p_get" "$tmp/obj.json" && pass "POSTed object is readable" || fail "POSTed object is readable" "content differs"
s=$(post p_201 data/post/two.json "$tmp/obj.json" --prefix data/post/ --status 201 --content-type-prefix application/ \
    -- --form-string success_action_status=201 --form-string Content-Type=application/json)
expect "POST with success_action_status=201 and Content-Type in policy -> 201" "$s" 201 p_201
grep -q '<Key>data/post/two.json</Key>' "$tmp/p_201" && pass "POST 201 answers a PostResponse" || fail "POST 201 answers a PostResponse" "$(head -c 200 "$tmp/p_201")"
ct=$(curl -s -o /dev/null -I -w '%{content_type}' "${sig[@]}" "${me[@]}" "${unsigned[@]}" "$E/$B/data/post/two.json")
[ "$ct" = application/json ] && pass "POSTed Content-Type stored" || fail "POSTed Content-Type stored" "got '$ct'"
s=$(post p_ct data/post/ct.json "$tmp/obj.json" --prefix data/post/ --content-type-prefix application/ \
    -- --form-string Content-Type=text/html)
expect "POST with Content-Type outside the policy's starts-with -> 403" "$s" 403 p_ct AccessDenied
s=$(post p_st data/post/st.json "$tmp/obj.json" --prefix data/post/ -- --form-string success_action_status=201)
expect "POST with success_action_status not in policy -> 403" "$s" 403 p_st AccessDenied
s=$(post p_exp data/post/exp.json "$tmp/obj.json" --prefix data/post/ --expires-in -5)
expect "POST with an expired policy -> 403" "$s" 403 p_exp AccessDenied
grep -q 'Policy expired' "$tmp/p_exp" && pass "expired policy says so" || fail "expired policy says so" "$(head -c 200 "$tmp/p_exp")"
head -c 3000 /dev/urandom > "$tmp/big3k"
s=$(post p_big data/post/big.json "$tmp/big3k" --prefix data/post/ --max 2048)
expect "POST above content-length-range -> 400" "$s" 400 p_big EntityTooLarge
s=$(post p_small data/post/small.json "$tmp/obj.json" --prefix data/post/ --min 1000)
expect "POST below content-length-range -> 400" "$s" 400 p_small EntityTooSmall
s=$(post p_prefix data/other/x.json "$tmp/obj.json" --prefix data/post/)
expect "POST key outside the starts-with prefix -> 403" "$s" 403 p_prefix AccessDenied
s=$(post p_sig data/post/sig.json "$tmp/obj.json" --prefix data/post/ --secret not-the-secret)
expect "POST policy signed with a wrong secret -> 403" "$s" 403 p_sig SignatureDoesNotMatch
s=$(post p_bucket data/post/b.json "$tmp/obj.json" --prefix data/post/ --bucket another-bucket)
expect "POST policy for another bucket -> 403" "$s" 403 p_bucket AccessDenied
s=$(post p_extra data/post/extra.json "$tmp/obj.json" --prefix data/post/ -- --form-string x-amz-meta-evil=1)
expect "POST with a field not covered by the policy -> 403" "$s" 403 p_extra AccessDenied
s=$(post p_unknown data/post/u.json "$tmp/obj.json" --prefix data/post/ --ak nobody --secret x)
expect "POST with an unknown access key -> 403" "$s" 403 p_unknown InvalidAccessKeyId
# a policy swapped after signing: the signature of policy A with the text of policy B
mapfile -t pa < <(node "$s3dir/postpolicy.mjs" --prefix data/post/)
mapfile -t pb < <(node "$s3dir/postpolicy.mjs" --prefix "")
s=$(req p_swap --form-string "${pb[0]}" --form-string "${pa[1]}" --form-string "${pa[2]}" --form-string "${pa[3]}" \
    --form-string "${pa[4]}" --form-string key=other/swap.json -F "file=@$tmp/obj.json" "$E/$B")
expect "POST with a policy changed after signing -> 403" "$s" 403 p_swap SignatureDoesNotMatch
s=$(req p_nopol --form-string key=data/post/anon.json -F "file=@$tmp/obj.json" "$E/$B")
expect "POST without a policy -> 403" "$s" 403 p_nopol AccessDenied

# over the server's 4 MiB body cap: refused before the body is buffered
head -c $((5 * 1024 * 1024)) /dev/zero > "$tmp/big5m"
s=$(post p_cap data/post/cap.bin "$tmp/big5m" --prefix data/post/ --max 10485760)
expect "POST body above the server cap (Expect: 100-continue) -> 400" "$s" 400 p_cap EntityTooLarge
s=$(post p_cap2 data/post/cap.bin "$tmp/big5m" --prefix data/post/ --max 10485760 -- -H "Expect:")
expect "POST body above the server cap (no Expect) -> 400" "$s" 400 p_cap2 EntityTooLarge
s=$(post p_cap3 data/post/cap.bin "$tmp/big5m" --prefix data/post/ --max 10485760 -- -H "Expect:" -H "Transfer-Encoding: chunked")
expect "POST chunked body above the server cap -> 400" "$s" 400 p_cap3 EntityTooLarge
s=$(req shacap "${sig[@]}" "${me[@]}" -H "x-amz-content-sha256: $(sha256sum "$tmp/big5m" | cut -d' ' -f1)" \
    -T "$tmp/big5m" "$E/$B/data/cap.bin")
expect "PUT with hashed payload above the server cap -> 400" "$s" 400 shacap EntityTooLarge

# ---- malformed multipart bodies: 400, never a crash
mp() { # mp NAME BODY_FILE CONTENT_TYPE
  local s
  s=$(req "$1" -H "Content-Type: $3" --data-binary @"$2" "$E/$B")
  expect "malformed POST: $1 -> 400" "$s" 400 "$1"
}
printf -- '--XyZ\r\nContent-Disposition: form-data; name="key"\r\n\r\ndata/x\r\n' > "$tmp/mp1"
mp no_closing_boundary "$tmp/mp1" "multipart/form-data; boundary=XyZ"
printf 'garbage without any boundary' > "$tmp/mp2"
mp no_boundary_in_body "$tmp/mp2" "multipart/form-data; boundary=XyZ"
printf -- '--XyZ\r\nthis is not a header\r\n\r\nv\r\n--XyZ--\r\n' > "$tmp/mp3"
mp bad_part_header "$tmp/mp3" "multipart/form-data; boundary=XyZ"
printf -- '--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--\r\n' > "$tmp/mp4"
mp no_content_disposition "$tmp/mp4" "multipart/form-data; boundary=XyZ"
printf -- '--XyZ\r\nContent-Disposition: form-data; name="key"\r\n\r\nv\r\n--XyZ--\r\n' > "$tmp/mp5"
mp no_file_part "$tmp/mp5" "multipart/form-data; boundary=XyZ"
mp no_boundary_param "$tmp/mp5" "multipart/form-data"
printf -- '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc' > "$tmp/mp6"
mp truncated_file "$tmp/mp6" "multipart/form-data; boundary=XyZ"
{ printf -- '--XyZ\r\nContent-Disposition: form-data; name="policy"\r\n\r\n'; head -c 30000 /dev/zero | tr '\0' A;
  printf '\r\n--XyZ--\r\n'; } > "$tmp/mp7"
mp huge_field "$tmp/mp7" "multipart/form-data; boundary=XyZ"
seed=$((RANDOM + 1))
if out=$(node "$s3dir/fuzzpost.mjs" 300 "$seed" 2>&1); then
  pass "300 mutated POST bodies (seed $seed): only 204/4xx S3 answers (${out#*answers })"
else
  fail "300 mutated POST bodies (seed $seed)" "$out"
fi
s=$(req notmp -H "Content-Type: application/json" --data-binary '{}' "$E/$B")
expect "POST that is not multipart/form-data -> 412" "$s" 412 notmp PreconditionFailed

# ---- other hostile input
# keys that would escape or alias s3rver's data directory
s=$(req trav --path-as-is "${sig[@]}" "${me[@]}" "${unsigned[@]}" -T "$tmp/obj.json" "$E/$B/x/../../../escape")
expect "PUT key with '..' segments -> 400" "$s" 400 trav InvalidArgument
s=$(req trav2 "${sig[@]}" "${me[@]}" "${unsigned[@]}" -T "$tmp/obj.json" "$E/$B/x/..%2F..%2F..%2Fescape2")
expect "PUT key with encoded '..' segments -> 400" "$s" 400 trav2 InvalidArgument
s=$(req travb --path-as-is "${sig[@]}" "${me[@]}" "${unsigned[@]}" -T "$tmp/obj.json" "$E/../escape3")
expect "PUT to bucket '..' -> 400" "$s" 400 travb InvalidBucketName
s=$(req travc "${sig[@]}" "${me[@]}" "${unsigned[@]}" -H "x-amz-copy-source: /$B/..%2F..%2F..%2Fetc%2Fpasswd" \
    -X PUT "$E/$B/data/copied.json")
expect "CopyObject from a '..' source -> 400" "$s" 400 travc InvalidArgument
s=$(req nul "${sig[@]}" "${me[@]}" "${unsigned[@]}" -T "$tmp/obj.json" "$E/$B/data/a%00b")
expect "PUT key with a NUL byte -> 400 (s3rver alone: 500)" "$s" 400 nul InvalidArgument
s=$(req dbl "${sig[@]}" "${me[@]}" "${unsigned[@]}" -T "$tmp/obj.json" "$E/$B/data//double")
expect "PUT key with an empty segment -> 400" "$s" 400 dbl InvalidArgument
s=$(post p_trav "data/post/../../../escape4" "$tmp/obj.json" --prefix data/post/)
expect "POST key with '..' segments -> 400" "$s" 400 p_trav InvalidArgument
if ls "$tmp"/escape* "$tmp"/s3/escape* "$tmp"/s3/data/escape* >/dev/null 2>&1; then
  fail "nothing written outside the bucket" "$(ls -d "$tmp"/escape* "$tmp"/s3/escape* "$tmp"/s3/data/escape* 2>/dev/null)"
else
  pass "nothing written outside the bucket"
fi
s=$(req cpok "${sig[@]}" "${me[@]}" "${unsigned[@]}" -H "x-amz-copy-source: /$B/$key" -X PUT "$E/$B/data/copied.json")
expect "CopyObject inside the bucket (source key with '=')" "$s" 200 cpok
req cpget "${sig[@]}" "${me[@]}" "${unsigned[@]}" "$E/$B/data/copied.json" >/dev/null
cmp -s "$tmp/cpget" "$tmp/obj.json" && pass "copied object has the source bytes" || fail "copied object has the source bytes" "content differs"
s=$(req badpct "${sig[@]}" "${me[@]}" "${unsigned[@]}" "$E/$B/%zz%C3")
expect "bad percent-encoding in path -> 400" "$s" 400 badpct InvalidURI
exec 3<>"/dev/tcp/127.0.0.1/${E##*:}" && printf 'GARBAGE\x01\x02 / NOTHTTP\r\n\r\n' >&3 && timeout 5 cat <&3 > "$tmp/garbage"
exec 3<&- 3>&-
grep -q '^HTTP/1.1 400' "$tmp/garbage" && pass "non-HTTP bytes -> 400" || fail "non-HTTP bytes -> 400" "$(head -c 100 "$tmp/garbage")"

# a client that goes away mid-upload leaves no (truncated) object
head -c 3000000 /dev/urandom > "$tmp/r3m"
timeout 1 curl -s --limit-rate 500K "${sig[@]}" "${me[@]}" "${unsigned[@]}" -T "$tmp/r3m" "$E/$B/data/aborted.bin" >/dev/null
sleep 0.3
s=$(req aborted "${sig[@]}" "${me[@]}" "${unsigned[@]}" "$E/$B/data/aborted.bin")
expect "upload aborted by the client leaves no object" "$s" 404 aborted NoSuchKey

# all requests together buffer at most ZM_S3_MAX_BUFFERED: a second big upload while another
# one is half received gets 503 SlowDown; the first one still lands. The first upload is
# written by hand on a socket: headers + 1 MB, pause, the rest.
head -c 3000000 /dev/urandom > "$tmp/slow3m"
head -c 4000000 /dev/urandom > "$tmp/fast4m"
port=${E##*:}
exec 4<>"/dev/tcp/127.0.0.1/$port"
{
  printf 'PUT /%s/data/slow.bin HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n' "$B" "$port"
  node "$s3dir/sigv4.mjs" headers --method PUT --url "$E/$B/data/slow.bin" --unsigned | sed 's/$/\r/'
  printf 'Content-Length: 3000000\r\nConnection: close\r\n\r\n'
  head -c 1000000 "$tmp/slow3m"
} >&4
sleep 1
s=$(req fast "${sig[@]}" "${me[@]}" "${unsigned[@]}" -T "$tmp/fast4m" "$E/$B/data/fast.bin")
expect "upload beyond the server-wide buffer while another is buffering -> 503" "$s" 503 fast SlowDown
tail -c +1000001 "$tmp/slow3m" >&4
timeout 20 cat <&4 > "$tmp/slow_resp"
exec 4<&- 4>&-
if head -n1 "$tmp/slow_resp" | grep -q '^HTTP/1.1 200'; then pass "the half-received upload still lands"
else fail "the half-received upload still lands" "$(head -c 300 "$tmp/slow_resp")"; fi
s=$(req slow_get "${sig[@]}" "${me[@]}" "${unsigned[@]}" "$E/$B/data/slow.bin")
cmp -s "$tmp/slow_get" "$tmp/slow3m" && pass "its bytes are intact" || fail "its bytes are intact" "HTTP $s, content differs"
s=$(req fast2 "${sig[@]}" "${me[@]}" "${unsigned[@]}" -T "$tmp/fast4m" "$E/$B/data/fast.bin")
expect "the same upload alone afterwards (buffer released)" "$s" 200 fast2

# ---- still alive
s=$(req alive "${sig[@]}" "${me[@]}" "${unsigned[@]}" "$E/$B/$key")
expect "server still answers after all of that" "$s" 200 alive
kill -0 "$pid" 2>/dev/null && pass "server process still alive (pid $pid)" || fail "server process still alive" "pid $pid gone"

# ---- stop by PID
"$s3dir/stop" "$tmp"; rc=$?
[ "$rc" = 0 ] && pass "stop exits 0" || fail "stop exits 0" "rc $rc"
if kill -0 "$pid" 2>/dev/null; then fail "stop: pid gone" "pid $pid still running"; else pass "stop: pid $pid gone"; fi
left=""
for c in /proc/[0-9]*/cmdline; do
  if tr '\0' ' ' 2>/dev/null < "$c" | grep -qF "$tmp/s3"; then left="$left ${c//[!0-9]/}"; fi
done
[ -z "$left" ] && pass "stop: no process left" || fail "stop: no process left" "pids:$left"
s=$(curl -s -m 3 -o /dev/null -w '%{http_code}' "$E/$B" || true)
[ "$s" = 000 ] && pass "stop: port closed" || fail "stop: port closed" "HTTP $s"
[ ! -e "$tmp/s3/s3rver.sock" ] && pass "stop: inner socket removed" || fail "stop: inner socket removed" "still there"
"$s3dir/stop" "$tmp" && pass "stop again exits 0" || fail "stop again exits 0" "non-zero"

if grep -q 'uncaught\|TypeError\|ReferenceError' "$tmp/s3.log"; then
  fail "no internal errors in s3.log" "$(grep -m3 'uncaught\|TypeError\|ReferenceError' "$tmp/s3.log")"
else
  pass "no internal errors in s3.log"
fi

if [ "$fails" -ne 0 ]; then echo "$fails case(s) failed"; exit 1; fi
echo "all cases passed"
