// Test helper: Signature V4 with @smithy/signature-v4 (the AWS SDK's signer),
// for shell tests that drive the local S3 server with curl.
//
//   node sigv4.mjs presign --url URL [--method GET] [--expires 300] [--date-offset S]
//       prints a presigned URL
//   node sigv4.mjs headers --url URL [--method GET] [--body-file F | --unsigned] [--date-offset S]
//       prints the headers to send, one "Name: value" per line
//   node sigv4.mjs chunked --url URL --body-file F --out F2 [--chunk-size N] [--tamper-chunk K]
//       writes an aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) body to F2 and prints
//       the headers; --tamper-chunk K flips a data byte of chunk K after signing
//
// Credentials: --ak/--secret/--region, else ZM_TEST_S3_ACCESS_KEY/SECRET_KEY/REGION.
// The URL path is sent as given; the canonical path is the decoded path with
// each segment URI-encoded once (what S3 expects), exactly as the AWS SDK does.

import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeDir = process.env.ZM_TEST_NODE_DIR || path.join(here, '..', 'node');
const require = createRequire(path.join(path.resolve(nodeDir), 'package.json'));
const { SignatureV4 } = require('@smithy/signature-v4');
const { Sha256 } = require('@aws-crypto/sha256-js');

const [cmd, ...rest] = process.argv.slice(2);
const opt = {};
for (let i = 0; i < rest.length; i++) {
  const k = rest[i].replace(/^--/, '');
  if (k === 'unsigned') { opt.unsigned = true; continue; }
  opt[k] = rest[++i];
}
const ak = opt.ak || process.env.ZM_TEST_S3_ACCESS_KEY;
const secret = opt.secret || process.env.ZM_TEST_S3_SECRET_KEY;
const region = opt.region || process.env.ZM_TEST_S3_REGION || 'us-east-1';
if (!cmd || !opt.url || !ak || !secret) {
  process.stderr.write('usage: sigv4.mjs presign|headers|chunked --url URL ... (credentials via env or --ak/--secret)\n');
  process.exit(2);
}
const url = new URL(opt.url);
const uriEncode = (s) => encodeURIComponent(s)
  .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const query = {};
for (const [k, v] of url.searchParams) query[k] = k in query ? [].concat(query[k], v) : v;
const request = {
  method: opt.method || 'GET',
  protocol: url.protocol,
  hostname: url.hostname,
  port: url.port ? Number(url.port) : undefined,
  path: decodeURIComponent(url.pathname).split('/').map(uriEncode).join('/'),
  query,
  headers: { host: url.host },
};
const signer = new SignatureV4({
  credentials: { accessKeyId: ak, secretAccessKey: secret },
  region, service: 's3', sha256: Sha256, uriEscapePath: false, applyChecksum: false,
});
const signingDate = new Date(Date.now() + Number(opt['date-offset'] || 0) * 1000);

if (cmd === 'presign') {
  const out = await signer.presign({ ...request, headers: { ...request.headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
    { signingDate, expiresIn: Number(opt.expires || 300),
      unsignableHeaders: new Set(['x-amz-content-sha256']), unhoistableHeaders: new Set(['x-amz-content-sha256']) });
  const qs = Object.entries(out.query).flatMap(([k, v]) => [].concat(v).map((x) => `${uriEncode(k)}=${uriEncode(x)}`));
  process.stdout.write(`${url.protocol}//${url.host}${url.pathname}?${qs.join('&')}\n`);
} else if (cmd === 'headers') {
  let hash = 'UNSIGNED-PAYLOAD';
  if (!opt.unsigned) {
    const body = opt['body-file'] ? fs.readFileSync(opt['body-file']) : Buffer.alloc(0);
    hash = createHash('sha256').update(body).digest('hex');
  }
  const out = await signer.sign({ ...request, headers: { ...request.headers, 'x-amz-content-sha256': hash } },
    { signingDate });
  for (const [k, v] of Object.entries(out.headers)) if (k !== 'host') process.stdout.write(`${k}: ${v}\n`);
} else if (cmd === 'chunked') {
  const body = fs.readFileSync(opt['body-file']);
  const chunkSize = Number(opt['chunk-size'] || 65536);
  const out = await signer.sign({ ...request, headers: { ...request.headers,
    'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'content-encoding': 'aws-chunked',
    'x-amz-decoded-content-length': String(body.length) } }, { signingDate });
  let prev = /Signature=([0-9a-f]{64})/.exec(out.headers.authorization)[1];
  const amzDate = out.headers['x-amz-date'];
  const scope = `${amzDate.slice(0, 8)}/${region}/s3/aws4_request`;
  const empty = createHash('sha256').update('').digest('hex');
  const pieces = [];
  const chunks = [];
  for (let off = 0; off < body.length; off += chunkSize) chunks.push(Buffer.from(body.subarray(off, off + chunkSize)));
  chunks.push(Buffer.alloc(0));
  for (let i = 0; i < chunks.length; i++) {
    const data = chunks[i];
    const sts = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, prev, empty,
      createHash('sha256').update(data).digest('hex')].join('\n');
    prev = await signer.signString(sts, { signingDate });
    if (opt['tamper-chunk'] !== undefined && Number(opt['tamper-chunk']) === i && data.length) data[0] ^= 1;
    pieces.push(Buffer.from(`${data.length.toString(16)};chunk-signature=${prev}\r\n`), data, Buffer.from('\r\n'));
  }
  fs.writeFileSync(opt.out, Buffer.concat(pieces));
  for (const [k, v] of Object.entries(out.headers)) if (k !== 'host') process.stdout.write(`${k}: ${v}\n`);
} else {
  process.stderr.write(`unknown command ${cmd}\n`);
  process.exit(2);
}
