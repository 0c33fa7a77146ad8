// zipmine local S3 server: a verifying front for s3rver.
//
// s3rver (npm, in this process) stores objects and answers the S3 API, but it
// checks Signature V4 only by access-key id and ignores POST policies.  This
// front re-derives every signature with @smithy/signature-v4 (the AWS SDK's
// own signer) from the secret of the access key, and refuses anything that
// does not match, the way AWS S3 does:
//
//   - header-signed requests (Authorization: AWS4-HMAC-SHA256 ...), with
//     x-amz-date skew <= 15 min and the x-amz-content-sha256 payload hash
//     verified when it is a hex digest,
//     STREAMING-AWS4-HMAC-SHA256-PAYLOAD (aws-chunked) decoded and every
//     chunk signature verified;
//   - presigned URLs (X-Amz-Algorithm/Credential/Date/Expires/SignedHeaders/
//     Signature), X-Amz-Expires honoured;
//   - browser POST uploads (multipart/form-data to the bucket URL): policy
//     signature, expiration and every condition (bucket, eq, starts-with,
//     content-length-range), extra fields refused; the file is then PUT to
//     s3rver.
//
// Anonymous requests (other than CORS preflight) get 403 AccessDenied.
// Signature V2 is refused.  Path-style addressing only.
//
// s3rver listens on a Unix socket in the state directory, so the only TCP
// door is this front.  Request bodies are read completely (bounded per
// request and in total) before anything reaches s3rver, which would store a
// truncated object if a client went away mid-upload.  Requests that pass are
// forwarded with their headers; responses (including ListObjects
// LastModified) pass through byte for byte.
//
// Usage: node proxy.mjs --dir DIR [--port N] [--host 127.0.0.1] [--port-file F]
// Env:   ZM_S3_KEYS       "ak:secret[,ak:secret...]" (default zipmine:zipmine-secret-key)
//        ZM_S3_REGION     region (default us-east-1)
//        ZM_S3_BUCKET     bucket created at start (default zipmine)
//        ZM_S3_MAX_BODY   max request body in bytes (default 64 MiB)
//        ZM_S3_MAX_BUFFERED max bytes of bodies buffered at once (default 4 x MAX_BODY)
//        ZM_TEST_NODE_DIR directory holding node_modules (default ../node)
// Logs one JSON line per request on stdout.

import { createRequire } from 'node:module';
import { createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeDir = process.env.ZM_TEST_NODE_DIR || path.join(here, '..', 'node');
const require = createRequire(path.join(path.resolve(nodeDir), 'package.json'));
const { SignatureV4, getCanonicalHeaders, prepareRequest } = require('@smithy/signature-v4');
const { Sha256 } = require('@aws-crypto/sha256-js');
const S3rver = require('s3rver');
const AWSAccount = require('s3rver/lib/models/account');

// ---------------------------------------------------------------- config

function parseArgs(argv) {
  const out = { host: '127.0.0.1', port: 0, dir: null, portFile: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--port') { out.port = Number(v); i++; }
    else if (a === '--host') { out.host = v; i++; }
    else if (a === '--dir') { out.dir = v; i++; }
    else if (a === '--port-file') { out.portFile = v; i++; }
    else throw new Error(`unknown argument ${a}`);
  }
  if (!out.dir) throw new Error('--dir DIR is required');
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) throw new Error('bad --port');
  return out;
}

function parseKeys(spec) {
  const keys = new Map();
  for (const pair of spec.split(',')) {
    const i = pair.indexOf(':');
    if (i <= 0 || i === pair.length - 1) throw new Error(`ZM_S3_KEYS: bad pair "${pair}"`);
    keys.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return keys;
}

const args = parseArgs(process.argv.slice(2));
const REGION = process.env.ZM_S3_REGION || 'us-east-1';
const BUCKET = process.env.ZM_S3_BUCKET || 'zipmine';
const MAX_BODY = Number(process.env.ZM_S3_MAX_BODY || 64 * 1024 * 1024);
const KEYS = parseKeys(process.env.ZM_S3_KEYS || 'zipmine:zipmine-secret-key');
const DRAIN_LIMIT = Math.max(4 * MAX_BODY, 256 * 1024 * 1024);
const MAX_BUFFERED = Number(process.env.ZM_S3_MAX_BUFFERED || 4 * MAX_BODY);
const MAX_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGN_S = 7 * 24 * 3600;
const MAX_POST_FIELDS_BYTES = 20 * 1024;  // AWS: fields preceding the file <= 20 KB
const MAX_POST_PARTS = 64;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

if (!Number.isInteger(MAX_BODY) || MAX_BODY < 1) throw new Error('bad ZM_S3_MAX_BODY');
if (!Number.isInteger(MAX_BUFFERED) || MAX_BUFFERED < MAX_BODY) throw new Error('bad ZM_S3_MAX_BUFFERED (>= ZM_S3_MAX_BODY)');

const signers = new Map();
for (const [ak, secret] of KEYS) {
  signers.set(ak, new SignatureV4({
    credentials: { accessKeyId: ak, secretAccessKey: secret },
    region: REGION, service: 's3', sha256: Sha256,
    uriEscapePath: false, applyChecksum: false,
  }));
}

// s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3
// only has in its legacy provider: without `node --openssl-legacy-provider`
// every truncated listing would be a 500.  Fail at start instead.
try {
  createDecipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
} catch {
  process.stderr.write('s3 proxy: DES unavailable: run node with --openssl-legacy-provider ' +
    '(s3rver encrypts continuation tokens with DES)\n');
  process.exit(1);
}

// A continuation token s3rver cannot decrypt makes it answer 500; S3 says 400.
function checkContinuationToken(token) {
  const buf = Buffer.from(token, 'base64');
  let ok = buf.length >= 16;
  if (ok) {
    try {
      const d = createDecipheriv('des', Buffer.alloc(8, 'S3RVER', 'utf8'), buf.subarray(0, 8));
      Buffer.concat([d.update(buf.subarray(8)), d.final()]);
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    throw new S3Error(400, 'InvalidArgument', 'The continuation token provided is incorrect',
      { ArgumentName: 'continuation-token' });
  }
}

// ---------------------------------------------------------------- errors

class S3Error extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

const xmlEscape = (s) => String(s).replace(/[<>&'"]/g,
  (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' }[c]));

function sendError(req, res, err, rid) {
  if (res.headersSent) { res.destroy(); return; }
  const e = err instanceof S3Error ? err
    : new S3Error(500, 'InternalError', 'We encountered an internal error. Please try again.');
  const extra = Object.entries(e.extra)
    .map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`).join('');
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${e.code}</Code><Message>${xmlEscape(e.message)}</Message>${extra}` +
    `<Resource>${xmlEscape(req.url.split('?')[0])}</Resource><RequestId>${rid}</RequestId></Error>`;
  const unread = !req.complete;
  res.statusCode = e.status;
  res.setHeader('Content-Type', 'application/xml');
  res.setHeader('x-amz-request-id', rid);
  if (unread) res.setHeader('Connection', 'close');
  if (req.method === 'HEAD') res.end();
  else { res.setHeader('Content-Length', Buffer.byteLength(body)); res.end(body); }
  if (unread) {
    // Drop the rest of the body: drain it briefly so the client can read
    // the answer, then close the connection.
    req.resume();
    res.on('finish', () => setTimeout(() => req.socket.destroy(), 200).unref());
  }
}

// ---------------------------------------------------------------- helpers

const uriEncode = (s) => encodeURIComponent(s)
  .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

function pctDecode(s, what) {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new S3Error(400, 'InvalidURI', `Couldn't parse the specified URI (${what}).`);
  }
}

// S3 canonical URI: the decoded path, each segment URI-encoded once.
function canonicalPath(rawPath) {
  return pctDecode(rawPath, 'path').split('/').map(uriEncode).join('/');
}

// Query string -> { name: value | [values] } (decoded), '+' is a literal plus.
function parseQuery(qs) {
  const q = Object.create(null);
  if (!qs) return q;
  for (const part of qs.split('&')) {
    if (part === '') continue;
    const i = part.indexOf('=');
    const k = pctDecode(i < 0 ? part : part.slice(0, i), 'query');
    const v = pctDecode(i < 0 ? '' : part.slice(i + 1), 'query');
    if (k === '__proto__') throw new S3Error(400, 'InvalidArgument', 'Invalid query parameter name.');
    if (k in q) q[k] = [].concat(q[k], v);
    else q[k] = v;
  }
  return q;
}

const parseAmzDate = (s) => {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  if (!m) return null;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  return isNaN(d) || d.toISOString().replace(/[-:]|\.\d{3}/g, '') !== s ? null : d;
};

function sigEqual(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

const headerValue = (req, name) => {
  const v = req.headersDistinct[name];
  return v === undefined ? undefined : v.join(',');
};

// Credential = AK/yyyymmdd/region/s3/aws4_request
function parseCredential(cred, date, err) {
  const parts = String(cred || '').split('/');
  if (parts.length !== 5) throw err('Credential must be AK/date/region/service/aws4_request.');
  const [ak, day, region, service, term] = parts;
  const signer = signers.get(ak);
  if (!signer) {
    throw new S3Error(403, 'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: ak });
  }
  if (day !== date.slice(0, 8)) throw err('Invalid credential date. Date is not the same as X-Amz-Date.');
  if (region !== REGION) throw err(`the region '${region}' is wrong; expecting '${REGION}'`, { Region: REGION });
  if (service !== 's3') throw err(`the service '${service}' is wrong; expecting 's3'`);
  if (term !== 'aws4_request') throw err('the credential terminator must be aws4_request');
  return { ak, signer };
}

function parseSignedHeaders(list, err) {
  const names = String(list || '').split(';');
  for (let i = 0; i < names.length; i++) {
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(names[i]) || (i > 0 && names[i] <= names[i - 1])) {
      throw err('SignedHeaders must be lowercase, sorted and unique.');
    }
  }
  if (!names.includes('host')) throw err('SignedHeaders must include host.');
  return names;
}

// The headers a client signed, as the server sees them.
function signedHeaderObject(req, names) {
  const headers = {};
  for (const n of names) {
    const v = headerValue(req, n);
    if (v === undefined) {
      throw new S3Error(403, 'SignatureDoesNotMatch',
        `Header ${n} is listed in SignedHeaders but absent from the request.`);
    }
    headers[n] = v;
  }
  return headers;
}

// Canonical request as smithy builds it; only used to explain a mismatch.
async function explain(signer, request, opts, payloadHash, scope) {
  const prepared = prepareRequest(request);
  prepared.headers['x-amz-date'] = opts.longDate;
  const canon = getCanonicalHeaders(prepared, opts.unsignableHeaders, opts.signableHeaders);
  const canonicalRequest = signer.createCanonicalRequest(prepared, canon, payloadHash);
  const stringToSign = await signer.createStringToSign(opts.longDate, scope, canonicalRequest, 'AWS4-HMAC-SHA256');
  return { CanonicalRequest: canonicalRequest, StringToSign: stringToSign };
}

// Reads a request body of at most `cap` bytes.  Above the cap the answer is
// 400 EntityTooLarge; the excess is discarded (never buffered) up to
// DRAIN_LIMIT so that the client, still sending, can read that answer
// (closing on a client mid-upload makes it see a reset instead).  With
// Expect: 100-continue and a declared length above the cap the body is
// refused before it is sent.
// All requests together buffer at most MAX_BUFFERED bytes; beyond that a
// request gets 503 SlowDown instead of growing the heap.
let buffered = 0;

function readBody(req, res, ctx, cap, expectContinue) {
  const tooLarge = () => new S3Error(400, 'EntityTooLarge',
    'Your proposed upload exceeds the maximum allowed size.', { MaxSizeAllowed: cap });
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > cap &&
        (expectContinue || Number(declared) > DRAIN_LIMIT)) {
      reject(tooLarge());
      return;
    }
    if (expectContinue) res.writeContinue();
    const chunks = [];
    let n = 0;
    let over = declared !== undefined && Number(declared) > cap;
    let done = false;
    const finish = (err, val) => {
      if (done) return;
      done = true;
      if (err) reject(err);
      else resolve(val);
    };
    req.on('data', (c) => {
      if (done) return;
      n += c.length;
      if (n > DRAIN_LIMIT) { finish(tooLarge()); return; }
      if (n > cap) {
        if (!over) { over = true; chunks.length = 0; buffered -= ctx.reserved; ctx.reserved = 0; }
        return;
      }
      if (over) return;
      if (buffered + c.length > MAX_BUFFERED) {
        finish(new S3Error(503, 'SlowDown', 'Please reduce your request rate (server buffer full).'));
        return;
      }
      buffered += c.length;
      ctx.reserved += c.length;
      chunks.push(c);
    });
    req.on('end', () => finish(over ? tooLarge() : null, over ? null : Buffer.concat(chunks, n)));
    req.on('error', () => finish(new S3Error(400, 'IncompleteBody',
      'The client went away before the end of the request body.')));
    req.on('close', () => {
      if (!req.complete) finish(new S3Error(400, 'IncompleteBody', 'The request body ended early.'));
    });
  });
}

// s3rver stores an object as a file named after its key: '..' segments would
// escape the data directory (path traversal), empty or '.' segments would
// alias other keys, NUL and very long segments make the filesystem fail (500).
// S3 accepts such keys; this server refuses them (400).
function checkBucketKey(bucket, key) {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    throw new S3Error(400, 'InvalidBucketName', 'The specified bucket is not valid.', { BucketName: bucket });
  }
  if (Buffer.byteLength(key) > 1024) throw new S3Error(400, 'KeyTooLongError', 'Your key is too long');
  const segs = key.split('/');
  for (let i = 0; i < segs.length; i++) {
    const g = segs[i];
    if ((g === '' && i !== segs.length - 1) || g === '.' || g === '..' || g.includes('\0') ||
        Buffer.byteLength(g) > 200) {
      throw new S3Error(400, 'InvalidArgument',
        'This server stores keys as file paths: empty, "." or ".." segments, NUL bytes and segments ' +
        'over 200 bytes are refused.', { ArgumentName: 'key', ArgumentValue: key });
    }
  }
}

// ---------------------------------------------------------------- SigV4: headers

const headerAuthErr = (msg, extra) => new S3Error(400, 'AuthorizationHeaderMalformed', msg, extra);

async function verifyHeaderAuth(req, ctx) {
  const auth = req.headers.authorization;
  const m = /^AWS4-HMAC-SHA256 +(.*)$/s.exec(auth);
  if (!m) {
    throw new S3Error(400, 'InvalidRequest',
      'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
  }
  const comp = new Map();
  for (const piece of m[1].split(',')) {
    const p = piece.trim();
    const i = p.indexOf('=');
    if (i <= 0 || comp.has(p.slice(0, i))) throw headerAuthErr('The authorization header is malformed.');
    comp.set(p.slice(0, i), p.slice(i + 1));
  }
  if (comp.size !== 3 || !comp.has('Credential') || !comp.has('SignedHeaders') || !comp.has('Signature')) {
    throw headerAuthErr('The authorization header requires three components: Credential, SignedHeaders, and Signature.');
  }
  const amzDate = req.headers['x-amz-date'];
  const signingDate = parseAmzDate(amzDate);
  if (!signingDate) {
    throw new S3Error(403, 'AccessDenied', 'AWS authentication requires a valid x-amz-date header (yyyymmddThhmmssZ).');
  }
  const { ak, signer } = parseCredential(comp.get('Credential'), amzDate, headerAuthErr);
  ctx.ak = ak;
  const now = Date.now();
  if (Math.abs(now - signingDate.getTime()) > MAX_SKEW_MS) {
    throw new S3Error(403, 'RequestTimeTooSkewed',
      'The difference between the request time and the current time is too large.',
      { RequestTime: amzDate, ServerTime: new Date(now).toISOString(), MaxAllowedSkewMilliseconds: MAX_SKEW_MS });
  }
  const signed = parseSignedHeaders(comp.get('SignedHeaders'), headerAuthErr);
  if (!signed.includes('x-amz-date')) throw headerAuthErr('SignedHeaders must include x-amz-date.');
  if (signed.includes('date')) {
    throw headerAuthErr('Sign x-amz-date, not Date: this server does not accept a signed Date header.');
  }
  const contentSha = req.headers['x-amz-content-sha256'];
  if (contentSha === undefined) {
    throw new S3Error(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  }
  if (!/^(UNSIGNED-PAYLOAD|STREAMING-AWS4-HMAC-SHA256-PAYLOAD|[0-9a-f]{64})$/.test(contentSha)) {
    if (/^STREAMING-/.test(contentSha)) {
      throw new S3Error(501, 'NotImplemented', `x-amz-content-sha256 ${contentSha} is not implemented by this server.`);
    }
    throw new S3Error(400, 'InvalidArgument',
      'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.',
      { ArgumentName: 'x-amz-content-sha256', ArgumentValue: contentSha });
  }
  const headers = signedHeaderObject(req, signed);
  headers['x-amz-content-sha256'] = contentSha;
  const request = { method: req.method, path: ctx.canonPath, query: ctx.query, headers };
  const opts = {
    signingDate,
    signableHeaders: new Set(signed),
    unsignableHeaders: signed.includes('x-amz-content-sha256') ? undefined : new Set(['x-amz-content-sha256']),
  };
  const out = await signer.sign(request, opts);
  const got = /SignedHeaders=([^,]*), Signature=([0-9a-f]{64})$/.exec(out.headers.authorization);
  if (!got || got[1] !== comp.get('SignedHeaders') || !sigEqual(got[2], comp.get('Signature'))) {
    throw new S3Error(403, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      { AWSAccessKeyId: ak, SignatureProvided: comp.get('Signature'),
        ...(await explain(signer, request, { ...opts, longDate: amzDate }, contentSha,
          comp.get('Credential').split('/').slice(1).join('/'))) });
  }
  return { ak, signer, signingDate, amzDate, seedSignature: got[2], contentSha,
    scope: comp.get('Credential').split('/').slice(1).join('/') };
}

// aws-chunked body: "hex;chunk-signature=sig\r\n<data>\r\n" ... "0;chunk-signature=sig\r\n\r\n"
async function decodeAwsChunked(body, auth, decodedLength) {
  const out = [];
  let pos = 0;
  let prev = auth.seedSignature;
  let total = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', pos);
    if (eol < 0 || eol - pos > 100) throw new S3Error(400, 'IncompleteBody', 'Malformed aws-chunked body (chunk header).');
    const m = /^([0-9a-fA-F]{1,8});chunk-signature=([0-9a-f]{64})$/.exec(body.toString('latin1', pos, eol));
    if (!m) throw new S3Error(400, 'IncompleteBody', 'Malformed aws-chunked body (chunk header).');
    const size = parseInt(m[1], 16);
    const start = eol + 2;
    if (start + size + 2 > body.length || body[start + size] !== 0x0d || body[start + size + 1] !== 0x0a) {
      throw new S3Error(400, 'IncompleteBody', 'Malformed aws-chunked body (chunk data).');
    }
    const data = body.subarray(start, start + size);
    const sts = ['AWS4-HMAC-SHA256-PAYLOAD', auth.amzDate, auth.scope, prev, EMPTY_SHA256,
      createHash('sha256').update(data).digest('hex')].join('\n');
    const sig = await auth.signer.signString(sts, { signingDate: auth.signingDate });
    if (!sigEqual(sig, m[2])) {
      throw new S3Error(403, 'SignatureDoesNotMatch', 'The chunk signature we calculated does not match the one you provided.');
    }
    prev = sig;
    pos = start + size + 2;
    if (size === 0) break;
    out.push(data);
    total += size;
  }
  if (pos !== body.length) throw new S3Error(400, 'IncompleteBody', 'Trailing bytes after the final aws-chunked chunk.');
  if (total !== decodedLength) {
    throw new S3Error(400, 'IncompleteBody', 'x-amz-decoded-content-length does not match the decoded body.');
  }
  return Buffer.concat(out, total);
}

// ---------------------------------------------------------------- SigV4: presigned

const queryAuthErr = (msg, extra) => new S3Error(400, 'AuthorizationQueryParametersError', msg, extra);
const PRESIGN_PARAMS = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires',
  'X-Amz-SignedHeaders', 'X-Amz-Signature'];

async function verifyPresigned(req, ctx) {
  const q = ctx.query;
  for (const p of PRESIGN_PARAMS) {
    if (typeof q[p] !== 'string') {
      throw queryAuthErr('Query-string authentication version 4 requires the X-Amz-Algorithm, ' +
        'X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.');
    }
  }
  if (q['X-Amz-Algorithm'] !== 'AWS4-HMAC-SHA256') throw queryAuthErr('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  const amzDate = q['X-Amz-Date'];
  const signingDate = parseAmzDate(amzDate);
  if (!signingDate) throw queryAuthErr('X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'"');
  if (!/^\d{1,6}$/.test(q['X-Amz-Expires'])) throw queryAuthErr('X-Amz-Expires must be a non-negative integer.');
  const expires = Number(q['X-Amz-Expires']);
  if (expires < 1 || expires > MAX_PRESIGN_S) {
    throw queryAuthErr('X-Amz-Expires must be between 1 and 604800 seconds.');
  }
  const { ak, signer } = parseCredential(q['X-Amz-Credential'], amzDate, queryAuthErr);
  ctx.ak = ak;
  const now = Date.now();
  if (now > signingDate.getTime() + expires * 1000) {
    throw new S3Error(403, 'AccessDenied', 'Request has expired',
      { 'X-Amz-Expires': expires, Expires: new Date(signingDate.getTime() + expires * 1000).toISOString(),
        ServerTime: new Date(now).toISOString() });
  }
  if (signingDate.getTime() - now > MAX_SKEW_MS) {
    throw new S3Error(403, 'AccessDenied', 'Request is not valid yet');
  }
  const signed = parseSignedHeaders(q['X-Amz-SignedHeaders'], queryAuthErr);
  const headers = signedHeaderObject(req, signed);
  headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  const query = Object.create(null);
  for (const k of Object.keys(q)) if (!PRESIGN_PARAMS.includes(k)) query[k] = q[k];
  const request = { method: req.method, path: ctx.canonPath, query, headers };
  const unsignable = new Set(['x-amz-content-sha256']);
  const out = await signer.presign(request, {
    signingDate, expiresIn: expires, signableHeaders: new Set(signed),
    unsignableHeaders: unsignable, unhoistableHeaders: new Set([...signed, 'x-amz-content-sha256']),
  });
  if (out.query['X-Amz-SignedHeaders'] !== q['X-Amz-SignedHeaders'] ||
      out.query['X-Amz-Credential'] !== q['X-Amz-Credential'] ||
      !sigEqual(out.query['X-Amz-Signature'], q['X-Amz-Signature'])) {
    throw new S3Error(403, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      { AWSAccessKeyId: ak });
  }
}

// ---------------------------------------------------------------- POST uploads

const malformedPost = (why) => new S3Error(400, 'MalformedPOSTRequest',
  `The body of your POST request is not well-formed multipart/form-data (${why}).`);

function multipartBoundary(ct) {
  const m = /^\s*multipart\/form-data\s*(;.*)?$/is.exec(ct || '');
  if (!m) return null;
  const b = /(?:^|;)\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))\s*(?:;|$)/i.exec(m[1] || '');
  if (!b) throw malformedPost('no usable boundary parameter');
  return b[1] || b[2];
}

function parsePartHeaders(text) {
  const h = Object.create(null);
  const lines = text === '' ? [] : text.split('\r\n');
  if (lines.length > 16) throw malformedPost('too many part headers');
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i <= 0) throw malformedPost('bad part header line');
    const name = line.slice(0, i).trim().toLowerCase();
    if (!/^[a-z0-9-]+$/.test(name) || name in h) throw malformedPost('bad or repeated part header');
    h[name] = line.slice(i + 1).trim();
  }
  const cd = h['content-disposition'];
  if (!cd || !/^form-data\s*(;|$)/i.test(cd)) throw malformedPost('part without Content-Disposition: form-data');
  const params = Object.create(null);
  const re = /;\s*([A-Za-z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)\s*/gy;
  re.lastIndex = cd.indexOf(';') < 0 ? cd.length : cd.indexOf(';');
  while (re.lastIndex < cd.length) {
    const m = re.exec(cd);
    if (!m) throw malformedPost('bad Content-Disposition parameters');
    const v = m[2].startsWith('"') ? m[2].slice(1, -1).replace(/\\(.)/g, '$1') : m[2];
    params[m[1].toLowerCase()] = v;
  }
  if (typeof params.name !== 'string' || params.name === '') throw malformedPost('part without a name');
  return { name: params.name, filename: params.filename, contentType: h['content-type'] };
}

// Returns { fields: {lowercased name: value}, file: {filename, contentType, data} }.
// Fields after the file part are ignored (as S3 does).
function parseMultipart(body, boundary) {
  const first = Buffer.from('--' + boundary);
  const delim = Buffer.from('\r\n--' + boundary);
  let pos;
  if (body.subarray(0, first.length).equals(first)) pos = first.length;
  else {
    const i = body.indexOf(delim);
    if (i < 0) throw malformedPost('no opening boundary');
    pos = i + delim.length;
  }
  const fields = Object.create(null);
  let fieldBytes = 0;
  for (let nparts = 0; ; nparts++) {
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) throw new S3Error(400, 'InvalidArgument',
      'POST requires exactly one file upload per request.', { ArgumentName: 'file', ArgumentValue: 0 });
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) throw malformedPost('bad boundary line');
    pos += 2;
    if (nparts >= MAX_POST_PARTS) throw malformedPost('too many parts');
    let headerText;
    let dataStart;
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) {
      headerText = '';
      dataStart = pos + 2;
    } else {
      const rel = body.subarray(pos, pos + 8192 + 4).indexOf('\r\n\r\n');
      if (rel < 0) throw malformedPost('unterminated part headers (or longer than 8 KiB)');
      const hend = pos + rel;
      headerText = body.toString('utf8', pos, hend);
      dataStart = hend + 4;
    }
    const part = parsePartHeaders(headerText);
    const next = body.indexOf(delim, dataStart);
    if (next < 0) throw malformedPost('missing closing boundary');
    const data = body.subarray(dataStart, next);
    pos = next + delim.length;
    const name = part.name.toLowerCase();
    if (name === 'file') {
      // The rest of the body must still be well-formed up to the close delimiter.
      if (body.indexOf(Buffer.from('\r\n--' + boundary + '--'), next) < 0) throw malformedPost('missing close delimiter');
      return { fields, file: { filename: part.filename, contentType: part.contentType, data } };
    }
    fieldBytes += data.length + name.length;
    if (fieldBytes > MAX_POST_FIELDS_BYTES) {
      throw new S3Error(400, 'MaxPostPreDataLengthExceeded',
        'Your POST request fields preceeding the upload file was too large.', { MaxPostPreDataLength: MAX_POST_FIELDS_BYTES });
    }
    if (name in fields || name === '__proto__') {
      throw new S3Error(400, 'InvalidArgument', `POST form field ${part.name} appears more than once.`);
    }
    fields[name] = data.toString('utf8');
  }
}

const policyErr = (msg) => new S3Error(400, 'InvalidPolicyDocument', `Invalid Policy: ${msg}`);
const policyDenied = (msg) => new S3Error(403, 'AccessDenied', `Invalid according to Policy: ${msg}`);

function checkPolicy(policy, fields, fileSize) {
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) throw policyErr('not a JSON object');
  if (typeof policy.expiration !== 'string') throw policyErr('missing expiration');
  const exp = Date.parse(policy.expiration);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(policy.expiration) || isNaN(exp)) throw policyErr('bad expiration');
  if (!Array.isArray(policy.conditions)) throw policyErr('missing conditions');
  if (Date.now() > exp) throw policyDenied('Policy expired.');
  const covered = new Set();
  let range = null;
  const fieldOf = (name) => fields[name];
  for (const c of policy.conditions) {
    let op;
    let name;
    let want;
    if (Array.isArray(c)) {
      if (c.length !== 3) throw policyErr(`condition ${JSON.stringify(c)} must have 3 elements`);
      op = String(c[0]).toLowerCase();
      if (op === 'content-length-range') {
        const lo = Number(c[1]);
        const hi = Number(c[2]);
        if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo < 0 || hi < lo) {
          throw policyErr(`bad content-length-range ${JSON.stringify(c)}`);
        }
        range = [lo, hi];
        continue;
      }
      if (op !== 'eq' && op !== 'starts-with') throw policyErr(`unknown condition ${JSON.stringify(c[0])}`);
      if (typeof c[1] !== 'string' || !c[1].startsWith('$') || typeof c[2] !== 'string') {
        throw policyErr(`bad condition ${JSON.stringify(c)}`);
      }
      name = c[1].slice(1).toLowerCase();
      want = c[2];
    } else if (typeof c === 'object' && c !== null && Object.keys(c).length === 1) {
      op = 'eq';
      name = Object.keys(c)[0].toLowerCase();
      want = Object.values(c)[0];
      if (typeof want !== 'string') throw policyErr(`bad condition ${JSON.stringify(c)}`);
    } else {
      throw policyErr(`bad condition ${JSON.stringify(c)}`);
    }
    const have = fieldOf(name);
    const ok = have !== undefined && (op === 'eq' ? have === want : have.startsWith(want));
    if (!ok) throw policyDenied(`Policy Condition failed: ["${op}", "$${name}", ${JSON.stringify(want)}]`);
    covered.add(name);
  }
  const extra = Object.keys(fields).filter((f) => f !== 'bucket' && f !== 'policy' && f !== 'x-amz-signature' &&
    !f.startsWith('x-ignore-') && !covered.has(f));
  if (extra.length) throw policyDenied(`Extra input fields: ${extra.join(', ')}`);
  if (range && fileSize < range[0]) {
    throw new S3Error(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size',
      { ProposedSize: fileSize, MinSizeAllowed: range[0] });
  }
  if (range && fileSize > range[1]) {
    throw new S3Error(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size',
      { ProposedSize: fileSize, MaxSizeAllowed: range[1] });
  }
}

async function postUpload(req, res, ctx, bucket, expectContinue) {
  const boundary = multipartBoundary(req.headers['content-type']);
  if (boundary === null) {
    throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold',
      { Condition: 'Bucket POST must be of the enclosure-type multipart/form-data' });
  }
  const body = await readBody(req, res, ctx, MAX_BODY, expectContinue);
  const { fields, file } = parseMultipart(body, boundary);
  if (fields.bucket !== undefined && fields.bucket !== bucket) {
    throw policyDenied('the bucket field does not match the bucket of the URL');
  }
  fields.bucket = bucket;
  if (fields.key === undefined || fields.key === '') {
    throw new S3Error(400, 'InvalidArgument', "Bucket POST must contain a field named 'key'.", { ArgumentName: 'key' });
  }
  if (fields.policy === undefined) {
    throw new S3Error(403, 'AccessDenied', 'Bucket POST without a policy is anonymous; this bucket is private.');
  }
  for (const f of ['x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-signature']) {
    if (fields[f] === undefined) {
      throw new S3Error(400, 'InvalidArgument', `Bucket POST must contain a field named '${f}'.`, { ArgumentName: f });
    }
  }
  if (fields['x-amz-algorithm'] !== 'AWS4-HMAC-SHA256') {
    throw new S3Error(400, 'InvalidArgument', 'x-amz-algorithm must be AWS4-HMAC-SHA256.');
  }
  const signingDate = parseAmzDate(fields['x-amz-date']);
  if (!signingDate) throw new S3Error(400, 'InvalidArgument', 'x-amz-date must be yyyymmddThhmmssZ.');
  const argErr = (msg) => new S3Error(400, 'InvalidArgument', msg);
  const { ak, signer } = parseCredential(fields['x-amz-credential'], fields['x-amz-date'], argErr);
  ctx.ak = ak;
  const sig = await signer.signString(fields.policy, { signingDate });
  if (!sigEqual(sig, fields['x-amz-signature'])) {
    throw new S3Error(403, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      { AWSAccessKeyId: ak });
  }
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(fields.policy) || fields.policy.length % 4 !== 0) throw policyErr('policy is not base64');
  let policy;
  try {
    policy = JSON.parse(Buffer.from(fields.policy, 'base64').toString('utf8'));
  } catch {
    throw policyErr('policy is not JSON');
  }
  if (file.filename !== undefined) fields.key = fields.key.split('${filename}').join(file.filename);
  checkPolicy(policy, fields, file.data.length);
  const key = fields.key;
  checkBucketKey(bucket, key);

  const headers = {
    host: req.headers.host || 'localhost',
    'content-type': fields['content-type'] || 'binary/octet-stream',
    'content-length': String(file.data.length),
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
  };
  for (const [f, v] of Object.entries(fields)) {
    if (f.startsWith('x-amz-meta-') || ['cache-control', 'content-disposition', 'content-encoding', 'expires'].includes(f)) {
      headers[f] = v;
    }
  }
  const up = await upstream('PUT', `/${uriEncode(bucket)}/${key.split('/').map(uriEncode).join('/')}`, headers, file.data);
  const upBody = await collect(up);
  if (up.statusCode !== 200) {
    res.writeHead(up.statusCode, { 'content-type': up.headers['content-type'] || 'application/xml',
      'content-length': upBody.length });
    res.end(upBody);
    return up.statusCode;
  }
  const etag = up.headers.etag;
  const location = `http://${req.headers.host}/${uriEncode(bucket)}/${key.split('/').map(uriEncode).join('/')}`;
  const redirect = fields.success_action_redirect || fields.redirect;
  if (redirect) {
    let u;
    try { u = new URL(redirect); } catch { u = null; }
    if (u) {
      u.searchParams.append('bucket', bucket);
      u.searchParams.append('key', key);
      u.searchParams.append('etag', etag);
      res.writeHead(303, { location: u.href, etag, 'content-length': 0 });
      res.end();
      return 303;
    }
  }
  const status = ['200', '201'].includes(fields.success_action_status) ? Number(fields.success_action_status) : 204;
  if (status === 201) {
    const xml = '<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse>' +
      `<Location>${xmlEscape(location)}</Location><Bucket>${xmlEscape(bucket)}</Bucket>` +
      `<Key>${xmlEscape(key)}</Key><ETag>${xmlEscape(etag)}</ETag></PostResponse>`;
    res.writeHead(201, { 'content-type': 'application/xml', etag, location, 'content-length': Buffer.byteLength(xml) });
    res.end(xml);
  } else {
    res.writeHead(status, { etag, location, 'content-length': 0 });
    res.end();
  }
  return status;
}

// ---------------------------------------------------------------- upstream (s3rver)

let upstreamSocket = null;
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer',
  'upgrade', 'expect']);

function upstream(method, pathAndQuery, headers, body) {
  return new Promise((resolve, reject) => {
    const r = http.request({ socketPath: upstreamSocket, method, path: pathAndQuery, headers, timeout: 60000 });
    r.on('response', resolve);
    r.on('timeout', () => r.destroy(new Error('upstream timeout')));
    r.on('error', reject);
    if (body === undefined || body === null) r.end();
    else if (Buffer.isBuffer(body)) r.end(body);
    else throw new Error('upstream body must be a Buffer');
  });
}

function collect(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function forwardHeaders(req) {
  const h = {};
  for (const [k, v] of Object.entries(req.headersDistinct)) {
    if (!HOP.has(k)) h[k] = v.length === 1 ? v[0] : v;
  }
  return h;
}

async function forward(req, res, ctx, body, headerOverrides = {}) {
  if (ctx.listToken) checkContinuationToken(ctx.listToken);
  const headers = { ...forwardHeaders(req), ...ctx.overrides, ...headerOverrides };
  for (const [k, v] of Object.entries(headers)) if (v === undefined) delete headers[k];
  const hadBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  if (hadBody || body.length > 0) headers['content-length'] = String(body.length);
  const up = await upstream(req.method, req.url, headers, body);
  const out = {};
  for (const [k, v] of Object.entries(up.headersDistinct)) if (!HOP.has(k)) out[k] = v;
  res.writeHead(up.statusCode, out);
  up.pipe(res);
  await new Promise((resolve) => { res.on('close', resolve); up.on('error', () => { res.destroy(); resolve(); }); });
  return up.statusCode;
}

// ---------------------------------------------------------------- dispatch

// Every accepted body is read completely (bounded) before anything reaches
// s3rver: s3rver would otherwise store a truncated object when a client goes
// away mid-upload, where S3 stores nothing.
function readAll(req, res, ctx, expectContinue) {
  return readBody(req, res, ctx, MAX_BODY, expectContinue);
}

async function handle(req, res, expectContinue) {
  const t0 = process.hrtime.bigint();
  const rid = randomBytes(8).toString('hex').toUpperCase();
  const ctx = { ak: null, reserved: 0, overrides: {} };
  let status = 0;
  let reason = '';
  try {
    const qi = req.url.indexOf('?');
    const rawPath = qi < 0 ? req.url : req.url.slice(0, qi);
    if (!rawPath.startsWith('/')) throw new S3Error(400, 'InvalidURI', "Couldn't parse the specified URI.");
    ctx.canonPath = canonicalPath(rawPath);
    ctx.query = parseQuery(qi < 0 ? '' : req.url.slice(qi + 1));
    const segs = pctDecode(rawPath, 'path').split('/');
    const bucket = segs[1] || '';
    const isBucketRoot = bucket !== '' && (segs.length === 2 || (segs.length === 3 && segs[2] === ''));
    if (bucket !== '') checkBucketKey(bucket, segs.slice(2).join('/'));
    const copySource = req.headers['x-amz-copy-source'];
    if (copySource !== undefined) {
      // S3: "/bucket/key[?versionId=...]", key URL-encoded.  s3rver applies decodeURI
      // (which leaves %3D, %2B... encoded) and has no versions: it is sent the fully
      // decoded source re-encoded with encodeURI, which decodeURI undoes exactly.
      const src = pctDecode(copySource.split('?')[0], 'x-amz-copy-source').replace(/^\//, '');
      const parts = src.split('/');
      checkBucketKey(parts[0], parts.slice(1).join('/'));
      ctx.overrides['x-amz-copy-source'] = '/' + encodeURI(src);
    }

    const hasHeaderAuth = req.headers.authorization !== undefined;
    const hasV4Query = 'X-Amz-Algorithm' in ctx.query || 'X-Amz-Signature' in ctx.query ||
      'X-Amz-Credential' in ctx.query;
    const hasV2Query = 'Signature' in ctx.query || 'AWSAccessKeyId' in ctx.query;

    if (req.method === 'POST' && isBucketRoot && !('delete' in ctx.query)) {
      // Browser POST upload: authenticated by the policy inside the form.
      status = await postUpload(req, res, ctx, bucket, expectContinue);
      return;
    }
    ctx.listToken = req.method === 'GET' && isBucketRoot && typeof ctx.query['continuation-token'] === 'string'
      ? ctx.query['continuation-token'] : '';
    if (req.method === 'OPTIONS') {
      status = await forward(req, res, ctx, await readAll(req, res, ctx, expectContinue));
      return;
    }
    if ([hasHeaderAuth, hasV4Query, hasV2Query].filter(Boolean).length > 1) {
      throw new S3Error(400, 'InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query ' +
        'parameter, Signature query string parameter or the Authorization header should be specified');
    }
    if (hasV2Query) {
      throw new S3Error(400, 'InvalidRequest',
        'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
    }
    if (hasV4Query) {
      await verifyPresigned(req, ctx);
      status = await forward(req, res, ctx, await readAll(req, res, ctx, expectContinue));
      return;
    }
    if (!hasHeaderAuth) throw new S3Error(403, 'AccessDenied', 'Access Denied');
    const auth = await verifyHeaderAuth(req, ctx);
    const body = await readAll(req, res, ctx, expectContinue);
    if (auth.contentSha === 'UNSIGNED-PAYLOAD') {
      status = await forward(req, res, ctx, body);
      return;
    }
    if (auth.contentSha === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD') {
      const declared = req.headers['x-amz-decoded-content-length'];
      if (!/^\d{1,15}$/.test(declared || '')) {
        throw new S3Error(411, 'MissingContentLength', 'x-amz-decoded-content-length is required for aws-chunked uploads.');
      }
      const decoded = await decodeAwsChunked(body, auth, Number(declared));
      const enc = (req.headers['content-encoding'] || '').split(',').map((s) => s.trim())
        .filter((s) => s && s !== 'aws-chunked').join(',');
      status = await forward(req, res, ctx, decoded,
        { 'content-encoding': enc || undefined, 'x-amz-decoded-content-length': undefined });
      return;
    }
    const digest = createHash('sha256').update(body).digest('hex');
    if (digest !== auth.contentSha) {
      throw new S3Error(400, 'XAmzContentSHA256Mismatch',
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
        { ClientComputedContentSHA256: auth.contentSha, S3ComputedContentSHA256: digest });
    }
    status = await forward(req, res, ctx, body);
  } catch (err) {
    status = err instanceof S3Error ? err.status : 500;
    reason = err instanceof S3Error ? `${err.code}: ${err.message}` : String(err && err.stack || err);
    sendError(req, res, err, rid);
  } finally {
    buffered -= ctx.reserved;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), event: 's3_request', rid,
      method: req.method, path: req.url.split('?')[0], ak: ctx.ak, status, ms: Math.round(ms * 10) / 10,
      ...(reason ? { reason } : {}) }) + '\n');
  }
}

// ---------------------------------------------------------------- main

async function main() {
  fs.mkdirSync(args.dir, { recursive: true, mode: 0o700 });
  const dataDir = path.join(args.dir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  let sockDir = args.dir;
  if (path.resolve(args.dir, 's3rver.sock').length > 100) sockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zm-s3-'));
  upstreamSocket = path.resolve(sockDir, 's3rver.sock');
  fs.rmSync(upstreamSocket, { force: true });

  for (const [ak, secret] of KEYS) AWSAccount.DUMMY_ACCOUNT.createKeyPair(ak, secret);
  const inner = new S3rver({
    silent: true, directory: dataDir, vhostBuckets: false,
    configureBuckets: [{ name: BUCKET, configs: [] }],
  });
  await inner.configureBuckets();
  const innerServer = http.createServer(inner.callback());
  await new Promise((resolve, reject) => innerServer.listen(upstreamSocket, resolve).on('error', reject));
  fs.chmodSync(upstreamSocket, 0o600);

  const server = http.createServer({ requestTimeout: 120000, headersTimeout: 30000, keepAliveTimeout: 5000 });
  server.on('request', (req, res) => { handle(req, res, false); });
  server.on('checkContinue', (req, res) => { handle(req, res, true); });
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise((resolve, reject) => server.listen(args.port, args.host, resolve).on('error', reject));
  const port = server.address().port;

  let stopping = false;
  const stop = (sig) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), event: 's3_stop', signal: sig }) + '\n');
    server.close();
    innerServer.close();
    server.closeAllConnections();
    innerServer.closeAllConnections();
    fs.rmSync(upstreamSocket, { force: true });
    if (sockDir !== args.dir) fs.rmSync(sockDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), event: 's3_listening', host: args.host, port,
    region: REGION, bucket: BUCKET, keys: [...KEYS.keys()], max_body: MAX_BODY, data: dataDir,
    startup_ms: Math.round(process.uptime() * 1000) }) + '\n');
  if (args.portFile) {
    fs.writeFileSync(args.portFile + '.tmp', `${port}\n`);
    fs.renameSync(args.portFile + '.tmp', args.portFile);
  }
}

main().catch((err) => {
  process.stderr.write(`s3 proxy: ${err && err.stack || err}\n`);
  process.exit(1);
});
