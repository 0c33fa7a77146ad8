// Test helper: sends N randomly mutated browser-POST bodies (from a valid one)
// to the local S3 server and checks that every answer is a clean S3 answer
// (204 or a 4xx with an XML error), never a 5xx or a dropped connection.
//
//   node fuzzpost.mjs [N=300] [SEED=1]
// Env: ZM_TEST_S3_ENDPOINT, ZM_TEST_S3_ACCESS_KEY, ZM_TEST_S3_SECRET_KEY, ZM_TEST_S3_REGION,
//      ZM_TEST_S3_BUCKET.  Prints a summary; exits 1 on the first bad answer.

import { createHmac } from 'node:crypto';
import http from 'node:http';

const n = Number(process.argv[2] || 300);
let seed = Number(process.argv[3] || 1) >>> 0;
const rnd = (k) => {  // xorshift32, deterministic per seed
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed % k;
};
const env = process.env;
const endpoint = new URL(env.ZM_TEST_S3_ENDPOINT);
const bucket = env.ZM_TEST_S3_BUCKET || 'zipmine';
const region = env.ZM_TEST_S3_REGION || 'us-east-1';
const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
const credential = `${env.ZM_TEST_S3_ACCESS_KEY}/${amzDate.slice(0, 8)}/${region}/s3/aws4_request`;
const policy = Buffer.from(JSON.stringify({
  expiration: new Date(Date.now() + 600000).toISOString(),
  conditions: [{ bucket }, ['starts-with', '$key', 'fuzz/'], ['content-length-range', 0, 4096],
    { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' }, { 'x-amz-credential': credential }, { 'x-amz-date': amzDate }],
})).toString('base64');
let key = createHmac('sha256', `AWS4${env.ZM_TEST_S3_SECRET_KEY}`).update(amzDate.slice(0, 8)).digest();
for (const p of [region, 's3', 'aws4_request']) key = createHmac('sha256', key).update(p).digest();
const signature = createHmac('sha256', key).update(policy).digest('hex');

const boundary = 'fuzzBoundary7MA4YWxk';
const fields = [['key', 'fuzz/${filename}'], ['policy', policy], ['x-amz-algorithm', 'AWS4-HMAC-SHA256'],
  ['x-amz-credential', credential], ['x-amz-date', amzDate], ['x-amz-signature', signature]];
let text = '';
for (const [k, v] of fields) text += `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`;
text += `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\n` +
  `Content-Type: text/plain\r\n\r\nhello fuzz\r\n--${boundary}--\r\n`;
const valid = Buffer.from(text);
const pieces = ['\r\n', '--', `--${boundary}`, `\r\n--${boundary}--`, '"', ';', ':', '\r\n\r\n',
  'Content-Disposition: form-data; name="file"', 'name=', '\0', '\xff'];

function mutate(buf) {
  let b = Buffer.from(buf);
  const rounds = 1 + rnd(4);
  for (let r = 0; r < rounds; r++) {
    const at = rnd(b.length + 1);
    switch (rnd(5)) {
      case 0: if (b.length) b[rnd(b.length)] = rnd(256); break;
      case 1: b = b.subarray(0, at); break;
      case 2: b = Buffer.concat([b.subarray(0, at), Buffer.from(pieces[rnd(pieces.length)], 'latin1'), b.subarray(at)]); break;
      case 3: b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rnd(40)))]); break;
      default: b = Buffer.concat([b.subarray(0, at), b.subarray(rnd(b.length + 1))]); break;
    }
  }
  return b;
}

function send(body) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: endpoint.hostname, port: endpoint.port, method: 'POST', path: `/${bucket}`,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': body.length },
      timeout: 10000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', reject);
    r.end(body);
  });
}

const counts = {};
const first = await send(valid);
if (first.status !== 204) {
  process.stderr.write(`fuzzpost: the unmutated body got ${first.status}: ${first.body.slice(0, 300)}\n`);
  process.exit(1);
}
for (let i = 0; i < n; i++) {
  const body = mutate(valid);
  let a;
  try {
    a = await send(body);
  } catch (e) {
    process.stderr.write(`fuzzpost: case ${i}: ${e.message}; body: ${JSON.stringify(body.toString('latin1').slice(0, 400))}\n`);
    process.exit(1);
  }
  const ok = a.status === 204 || (a.status >= 400 && a.status < 500 && a.body.includes('<Error><Code>'));
  if (!ok) {
    process.stderr.write(`fuzzpost: case ${i}: HTTP ${a.status} ${a.body.slice(0, 300)}; body: ` +
      `${JSON.stringify(body.toString('latin1').slice(0, 400))}\n`);
    process.exit(1);
  }
  counts[a.status] = (counts[a.status] || 0) + 1;
}
process.stdout.write(`fuzzpost: ${n} mutated bodies, answers ${JSON.stringify(counts)}\n`);
