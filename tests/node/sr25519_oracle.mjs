// Oracle for tests/integration/test_sr25519_oracle.c: @polkadot/util-crypto and
// @polkadot/keyring answer bulk requests about sr25519, SS58 and keyfiles.
//
// One process serves a whole test. Protocol on stdin, one command per line:
//   run <request-file> <response-file>   process every request line, write the answers
//   quit                                 exit 0
// After each run it prints "done" on stdout (or "error <message>" and exits 1).
//
// Request lines (hex without 0x) and the answer line each one produces:
//   seed <seed>                       -> pair <public> <secret64 (polkadot's encoding)>
//   ours <pk> <msg> <sig> <sigbit> <msgbit> <pkbit>
//                                     -> v <ok> <ok with sig bit flipped> <ok with msg bit
//                                        flipped (msgbit -1: a byte appended)> <ok with pk bit
//                                        flipped>; ok = sr25519Verify returned true
//   signer <seed>                     -> pair <public> <secret64>; later sign* use this key
//   sign <msg>                        -> s <sig over msg>
//   signwrapped <msg>                 -> s <sig over u8aWrapBytes(msg) = <Bytes>msg</Bytes>>
//   ss58 <pk> <prefix>                -> a <encodeAddress(pk, prefix)>
//   ss58bad <address>                 -> b <1 if decodeAddress throws, else 0>
//   keyfile <wallets-dir> <wallet>    -> k <hotkey-name> <public> <ss58> per file written (see
//                                        writeKeyfiles), then k end
//   check <pk> <msg> <sig>            -> c <1 if sr25519Verify(msg, sig, pk) else 0>
import { createInterface } from 'node:readline';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Keyring } from '@polkadot/keyring';
import {
  cryptoWaitReady, decodeAddress, encodeAddress, mnemonicGenerate, mnemonicToMiniSecret,
  sr25519PairFromSeed, sr25519Sign, sr25519Verify,
} from '@polkadot/util-crypto';
import { hexToU8a, u8aToHex, u8aWrapBytes, u8aEq } from '@polkadot/util';

const hex = (u8a) => u8aToHex(u8a).slice(2);
const unhex = (s) => hexToU8a('0x' + s);

function flip(u8a, bit) {
  const out = new Uint8Array(u8a);
  out[bit >> 3] ^= 1 << (bit & 7);
  return out;
}

function verify(msg, sig, pk) {
  try {
    return sr25519Verify(msg, sig, pk) ? 1 : 0;
  } catch {
    return 0;           // an invalid public key throws: a rejection
  }
}

// schnorrkel's canonical secret encoding (what bittensor-wallet writes): the key half of
// polkadot's encoding divided by the cofactor 8, as a 256-bit little-endian integer.
function canonicalSecret(secret) {
  let key = 0n;
  for (let i = 31; i >= 0; i--) key = (key << 8n) | BigInt(secret[i]);
  key >>= 3n;
  const out = new Uint8Array(64);
  for (let i = 0; i < 32; i++) { out[i] = Number(key & 0xffn); key >>= 8n; }
  out.set(secret.subarray(32), 32);
  return out;
}

// A hotkey made by @polkadot/keyring from a fresh mnemonic, written in btcli's layout
// <wallets>/<wallet>/hotkeys/<name> under several names:
//   full       every field; privateKey as the keyring holds it (polkadot encoding)
//   btcli      every field; privateKey canonical, as btcli/bittensor-wallet write it
//   privonly   privateKey (polkadot encoding), publicKey and ss58Address; no seed
//   canonical  privateKey (canonical) and accountId only
//   mismatch   full, but publicKey/accountId of another key: must be refused
function writeKeyfiles(walletsDir, wallet) {
  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  const mnemonic = mnemonicGenerate(12);
  const pair = keyring.addFromUri(mnemonic);
  const seed = mnemonicToMiniSecret(mnemonic);
  const pkcs8 = pair.encodePkcs8();          // header(16) || secret(64) || divider(5) || public
  const secret = pkcs8.subarray(16, 80);
  if (!u8aEq(secret, sr25519PairFromSeed(seed).secretKey)) throw new Error('keyring secret mismatch');
  if (!u8aEq(pkcs8.subarray(85), pair.publicKey)) throw new Error('keyring public mismatch');
  const other = keyring.addFromUri(mnemonicGenerate(12));
  const dir = join(walletsDir, wallet, 'hotkeys');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pub = u8aToHex(pair.publicKey);
  const full = {
    accountId: pub, publicKey: pub, privateKey: u8aToHex(secret), secretPhrase: mnemonic,
    secretSeed: u8aToHex(seed), ss58Address: pair.address,
  };
  const files = {
    full,
    btcli: { ...full, privateKey: u8aToHex(canonicalSecret(secret)) },
    privonly: { privateKey: u8aToHex(secret), publicKey: pub, ss58Address: pair.address },
    canonical: { privateKey: u8aToHex(canonicalSecret(secret)), accountId: pub },
    mismatch: { ...full, accountId: u8aToHex(other.publicKey), publicKey: u8aToHex(other.publicKey) },
  };
  const out = [];
  for (const [name, body] of Object.entries(files)) {
    writeFileSync(join(dir, name), JSON.stringify(body, null, 4), { mode: 0o600 });
    out.push(`k ${name} ${hex(pair.publicKey)} ${pair.address}`);
  }
  out.push('k end');
  return out;
}

function run(requestFile, responseFile) {
  const out = [];
  let signer = null;
  for (const line of readFileSync(requestFile, 'utf8').split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    switch (f[0]) {
      case 'seed':
      case 'signer': {
        const pair = sr25519PairFromSeed(unhex(f[1]));
        if (f[0] === 'signer') signer = pair;
        out.push(`pair ${hex(pair.publicKey)} ${hex(pair.secretKey)}`);
        break;
      }
      case 'ours': {
        const [pk, msg, sig] = [unhex(f[1]), unhex(f[2]), unhex(f[3])];
        const [sigbit, msgbit, pkbit] = [Number(f[4]), Number(f[5]), Number(f[6])];
        const badMsg = msgbit < 0 ? new Uint8Array([...msg, 0]) : flip(msg, msgbit);
        out.push(`v ${verify(msg, sig, pk)} ${verify(msg, flip(sig, sigbit), pk)} ` +
                 `${verify(badMsg, sig, pk)} ${verify(msg, sig, flip(pk, pkbit))}`);
        break;
      }
      case 'sign':
        out.push(`s ${hex(sr25519Sign(unhex(f[1] ?? ''), signer))}`);
        break;
      case 'signwrapped':
        out.push(`s ${hex(sr25519Sign(u8aWrapBytes(unhex(f[1] ?? '')), signer))}`);
        break;
      case 'ss58':
        out.push(`a ${encodeAddress(unhex(f[1]), Number(f[2]))}`);
        break;
      case 'ss58bad': {
        let rejected = 1;
        try { decodeAddress(f[1]); rejected = 0; } catch { rejected = 1; }
        out.push(`b ${rejected}`);
        break;
      }
      case 'keyfile':
        out.push(...writeKeyfiles(f[1], f[2]));
        break;
      case 'check':
        out.push(`c ${verify(unhex(f[2] ?? ''), unhex(f[3]), unhex(f[1]))}`);
        break;
      default:
        throw new Error(`unknown request: ${f[0]}`);
    }
  }
  writeFileSync(responseFile, out.join('\n') + '\n');
}

await cryptoWaitReady();
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const f = line.trim().split(' ');
  if (f[0] === 'quit') break;
  try {
    if (f[0] !== 'run' || f.length !== 3) throw new Error(`bad command: ${line}`);
    run(f[1], f[2]);
    process.stdout.write('done\n');
  } catch (e) {
    process.stdout.write(`error ${String(e.message).replace(/\n/g, ' ')}\n`);
    process.exit(1);
  }
}
process.exit(0);
