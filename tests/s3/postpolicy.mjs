// Test helper: the form fields of an S3 browser POST upload (Signature V4
// POST policy), derived with plain HMAC-SHA256 from node:crypto (independent
// of the server's signer).  Prints one "name=value" line per field, to feed
// `curl --form-string`.  The caller adds `key` and `file` itself.
//
//   node postpolicy.mjs [--bucket zipmine] [--prefix data/] [--expires-in 300]
//                       [--min 0] [--max 1048576] [--content-type-prefix ""] [--status 201]
//                       [--ak AK --secret SECRET --region R] [--date-offset S]
//
// --status adds {"success_action_status": S}; --content-type-prefix a starts-with on $Content-Type.
// --expires-in may be negative (an already expired policy); --prefix "" allows any key.
// Credentials default to ZM_TEST_S3_ACCESS_KEY / ZM_TEST_S3_SECRET_KEY / ZM_TEST_S3_REGION.

import { createHmac } from 'node:crypto';

const opt = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) opt[argv[i].replace(/^--/, '')] = argv[i + 1];
const ak = opt.ak || process.env.ZM_TEST_S3_ACCESS_KEY;
const secret = opt.secret || process.env.ZM_TEST_S3_SECRET_KEY;
const region = opt.region || process.env.ZM_TEST_S3_REGION || 'us-east-1';
const bucket = opt.bucket || process.env.ZM_TEST_S3_BUCKET || 'zipmine';
if (!ak || !secret) {
  process.stderr.write('postpolicy.mjs: credentials missing (ZM_TEST_S3_ACCESS_KEY/SECRET_KEY or --ak/--secret)\n');
  process.exit(2);
}
const now = Date.now() + Number(opt['date-offset'] || 0) * 1000;
const amzDate = new Date(now).toISOString().replace(/[-:]|\.\d{3}/g, '');
const day = amzDate.slice(0, 8);
const credential = `${ak}/${day}/${region}/s3/aws4_request`;
const conditions = [
  { bucket },
  ['starts-with', '$key', opt.prefix ?? 'data/'],
  ['content-length-range', Number(opt.min ?? 0), Number(opt.max ?? 1048576)],
  { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
  { 'x-amz-credential': credential },
  { 'x-amz-date': amzDate },
];
if (opt.status !== undefined) conditions.push({ success_action_status: opt.status });
if (opt['content-type-prefix'] !== undefined) conditions.push(['starts-with', '$Content-Type', opt['content-type-prefix']]);
const policy = {
  expiration: new Date(Date.now() + Number(opt['expires-in'] ?? 300) * 1000).toISOString(),
  conditions,
};
const b64 = Buffer.from(JSON.stringify(policy)).toString('base64');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();
let k = hmac(`AWS4${secret}`, day);
k = hmac(k, region);
k = hmac(k, 's3');
k = hmac(k, 'aws4_request');
const signature = createHmac('sha256', k).update(b64).digest('hex');
for (const [n, v] of [['policy', b64], ['x-amz-algorithm', 'AWS4-HMAC-SHA256'], ['x-amz-credential', credential],
  ['x-amz-date', amzDate], ['x-amz-signature', signature]]) {
  process.stdout.write(`${n}=${v}\n`);
}
