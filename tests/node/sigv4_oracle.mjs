// Signature V4 oracle for tests/integration/test_sigv4_oracle.c.
//
// Reads a JSON array of cases on stdin and writes a JSON array of answers on stdout, one per
// case, computed with @smithy/signature-v4 (the AWS SDK's own signer) configured as the SDK's
// S3 client configures it: uriEscapePath=false (the S3 serializer encodes the key itself,
// once, keeping '/'), applyChecksum=true, and for presigned URLs x-amz-content-sha256 =
// UNSIGNED-PAYLOAD kept out of the signed and hoisted headers.
//
// The object key is encoded here, independently of the C code, the way the SDK's S3
// serializer does it: each '/'-separated segment through extendedEncodeURIComponent.
//
// Case:   { kind: "header" | "presign" | "policy", creds: {ak, sk, token?, region},
//           now (unix s), method, host, bucket, key, query: [[name, value|null]...],
//           headers: [[name, value]...], payload_hash, expires, policy_b64 }
// Answer: { signature, authorization?, signed_headers?, query? } or { error }

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeDir = process.env.ZM_TEST_NODE_DIR || here;
const require = createRequire(path.join(path.resolve(nodeDir), 'package.json'));
const { SignatureV4 } = require('@smithy/signature-v4');
const { Sha256 } = require('@aws-crypto/sha256-js');

const extendedEncodeURIComponent = (s) => encodeURIComponent(s).replace(/[!'()*]/g,
  (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

// bucket null: virtual-hosted addressing, the bucket is in the host name.
function encodePath(bucket, key) {
  const keyPath = '/' + key.split('/').map(extendedEncodeURIComponent).join('/');
  return bucket === null ? keyPath : '/' + bucket + keyPath;
}

function signer(c) {
  return new SignatureV4({
    credentials: { accessKeyId: c.creds.ak, secretAccessKey: c.creds.sk,
      ...(c.creds.token ? { sessionToken: c.creds.token } : {}) },
    region: c.creds.region,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: true,
  });
}

function queryObject(pairs) {
  const q = {};
  for (const [k, v] of pairs) {
    const val = v === null ? '' : v;      // valueless: signed as "name="
    if (Object.prototype.hasOwnProperty.call(q, k)) {
      q[k] = Array.isArray(q[k]) ? [...q[k], val] : [q[k], val];
    } else {
      q[k] = val;
    }
  }
  return q;
}

async function answer(c) {
  const s = signer(c);
  const signingDate = new Date(c.now * 1000);
  if (c.kind === 'policy') {
    return { signature: await s.sign(c.policy_b64, { signingDate }) };
  }
  const headers = { host: c.host };
  for (const [k, v] of c.headers || []) headers[k] = v;
  const request = {
    method: c.method,
    protocol: 'http:',
    hostname: c.host,
    path: encodePath(c.bucket, c.key),
    query: queryObject(c.query || []),
    headers,
  };
  if (c.kind === 'header') {
    headers['x-amz-content-sha256'] = c.payload_hash;
    const signed = await s.sign(request, { signingDate });
    const auth = signed.headers.authorization;
    return { signature: /Signature=([0-9a-f]{64})$/.exec(auth)[1], authorization: auth,
      path: request.path };
  }
  if (c.kind === 'presign') {
    headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    const unsigned = new Set(['x-amz-content-sha256']);
    const signed = await s.presign(request, { signingDate, expiresIn: c.expires,
      unsignableHeaders: unsigned, unhoistableHeaders: unsigned });
    return { signature: signed.query['X-Amz-Signature'], query: signed.query,
      path: request.path };
  }
  return { error: `unknown kind ${c.kind}` };
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const out = [];
for (const c of cases) {
  try {
    out.push(await answer(c));
  } catch (err) {
    out.push({ error: String(err && err.message || err) });
  }
}
process.stdout.write(JSON.stringify(out));
