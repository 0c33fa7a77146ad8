// Generates the known-answer vectors committed in tests/unit/test_sr25519.c, with
// @polkadot/util-crypto (the oracle). Run: node tests/node/sr25519_vectors.mjs
// Signatures are randomised, so a vector is (seed, public key, polkadot's 64-byte secret
// key, message, one signature polkadot made): our code must derive the same keys and accept
// the signature.
import { cryptoWaitReady, sr25519PairFromSeed, sr25519Sign, sr25519Verify, blake2AsU8a, encodeAddress } from '@polkadot/util-crypto';
import { u8aToHex, stringToU8a } from '@polkadot/util';

await cryptoWaitReady();
const messages = [
  '',
  'hello',
  'zipcode:assignment:current:1732550400',
  'x'.repeat(200),
  'miner:status:5ExZX4Jrhy8svUAzBVDKkHUG1QY1vvbgdDqgw1wF3pFws3mD:2024-11-25T12-00-00:1732550400',
];
const hex = (u) => u8aToHex(u).slice(2);
for (let i = 0; i < messages.length; i++) {
  const seed = blake2AsU8a(stringToU8a(`zipmine-kat-${i}`), 256);
  const pair = sr25519PairFromSeed(seed);
  const msg = stringToU8a(messages[i]);
  const sig = sr25519Sign(msg, pair);
  if (!sr25519Verify(msg, sig, pair.publicKey)) throw new Error('oracle self-check failed');
  console.log(`    { "${hex(seed)}",\n      "${hex(pair.publicKey)}",\n      "${hex(pair.secretKey)}",\n      "${messages[i]}",\n      "${hex(sig)}",\n      "${encodeAddress(pair.publicKey, 42)}" },`);
}
