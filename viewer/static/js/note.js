// C2SP signed notes and verifier keys (docs/FORMAT.md §5), checked with WebCrypto's Ed25519.
// Same rules as ledger/signing.py: lines by other keys are ignored, at least one line by the
// expected (name, key id) must be present, and every such line must verify.

export class NoteError extends Error {}

const enc = new TextEncoder();
const SIG_PREFIX = '\u2014 ';

export function hex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function b64decode(text) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  try {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

// SHA-256 in plain JavaScript (FIPS 180-4) for small inputs: a bundle needs ~15 hashes per
// entry (leaf, proof nodes, member digest), and one WebCrypto promise per 65-byte node costs
// far more than the hash itself. Large members go to WebCrypto.
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const W = new Uint32Array(64);

export function sha256Sync(data) {
  const bits = data.length * 8;
  const padded = new Uint8Array(((data.length + 9 + 63) >> 6) << 6);
  padded.set(data);
  padded[data.length] = 0x80;
  const dv = new DataView(padded.buffer);
  dv.setUint32(padded.length - 8, Math.floor(bits / 0x100000000));
  dv.setUint32(padded.length - 4, bits >>> 0);
  let h0 = 0x6a09e667, h1 = 0xbb67ae85, h2 = 0x3c6ef372, h3 = 0xa54ff53a;
  let h4 = 0x510e527f, h5 = 0x9b05688c, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) W[i] = dv.getUint32(off + 4 * i);
    for (let i = 16; i < 64; i++) {
      const a = W[i - 15], b = W[i - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  [h0, h1, h2, h3, h4, h5, h6, h7].forEach((v, i) => ov.setUint32(4 * i, v));
  return out;
}

const SYNC_LIMIT = 64 * 1024;

export async function sha256(bytes) {
  if (bytes.length <= SYNC_LIMIT) return sha256Sync(bytes);
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A verifier key `<name>+<8 hex key id>+<base64(0x01 || public key)>`. */
export async function parseVerifierKey(text) {
  const vkey = text;
  // The base64 part may itself contain '+': split on the first two only.
  const first = vkey.indexOf('+');
  const second = first < 0 ? -1 : vkey.indexOf('+', first + 1);
  const parts = second < 0 ? [] : [vkey.slice(0, first), vkey.slice(first + 1, second), vkey.slice(second + 1)];
  if (parts.length !== 3) {
    throw new NoteError(`verifier key: expected <name>+<key id>+<base64 key>, found ${JSON.stringify(vkey.slice(0, 60))}`);
  }
  const [name, idHex, b64] = parts;
  if (!name || /\s/.test(name)) throw new NoteError('verifier key: the name is empty or contains white space');
  if (!/^[0-9a-fA-F]{8}$/.test(idHex)) throw new NoteError(`verifier key: expected an 8-hex-digit key id, found ${JSON.stringify(idHex)}`);
  const raw = b64decode(b64);
  if (raw === null || raw.length !== 33 || raw[0] !== 0x01) {
    throw new NoteError('verifier key: expected base64 of 0x01 and a 32-byte Ed25519 public key');
  }
  const pub = raw.subarray(1);
  const keyId = (await sha256(concat(enc.encode(name), new Uint8Array([0x0a, 0x01]), pub))).subarray(0, 4);
  if (hex(keyId) !== idHex.toLowerCase()) {
    throw new NoteError(`verifier key: expected key id ${hex(keyId)} (the hash of its name and public key), found ${idHex}; the key was altered or mistyped`);
  }
  let cryptoKey;
  try {
    cryptoKey = await crypto.subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
  } catch (exc) {
    throw new NoteError(`this browser cannot check Ed25519 signatures (${exc.message}); use a current Chromium, Firefox or Safari, or 'temoin verify'`);
  }
  return { name, keyId, text: `${name}+${hex(keyId)}+${b64}`, cryptoKey, describe: `${name}+${hex(keyId)}` };
}

/** Text and signature lines of a signed note (no crypto). */
export function parseNote(bytes) {
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new NoteError('signed note: expected UTF-8 text; the note was corrupted or is not a signed note');
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) throw new NoteError(`signed note: expected no control characters other than newline, found U+${c.toString(16).padStart(4, '0').toUpperCase()} at character ${i}`);
  }
  const split = text.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('signed note: expected the text, a blank line, then signature lines; found no blank line, so the note is unsigned or truncated');
  const body = text.slice(0, split + 1);
  const block = text.slice(split + 2);
  if (!block) throw new NoteError('signed note: expected at least one signature line after the blank line, found none');
  if (!block.endsWith('\n')) throw new NoteError('signed note: expected the note to end with a newline; the note was truncated or re-encoded');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > 100) throw new NoteError(`signed note: expected at most 100 signature lines, found ${lines.length}`);
  const signatures = lines.map((line, i) => {
    if (!line.startsWith(SIG_PREFIX)) throw new NoteError(`signed note, signature line ${i + 1}: expected '— <key name> <base64 signature>'`);
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = space < 0 ? rest : rest.slice(0, space);
    const raw = space < 0 ? null : b64decode(rest.slice(space + 1));
    if (!name || raw === null || raw.length < 5) throw new NoteError(`signed note, signature line ${i + 1}: expected a key name and a base64 key id and signature`);
    return { name, keyId: raw.subarray(0, 4), signature: raw.subarray(4) };
  });
  return { body, bodyBytes: enc.encode(body), signatures };
}

/** The note's text if `key` signed it; throws NoteError otherwise. */
export async function verifyNote(bytes, key) {
  const note = parseNote(bytes);
  const mine = note.signatures.filter((s) => s.name === key.name && equal(s.keyId, key.keyId));
  if (mine.length === 0) {
    const found = [...new Set(note.signatures.map((s) => `${s.name}+${hex(s.keyId)}`))].sort().join(', ');
    const sameName = note.signatures.some((s) => s.name === key.name);
    const advice = sameName
      ? 'the note was signed by another key with the same name: the log key was replaced or you hold an outdated verifier key'
      : 'check that the note comes from this log and that you use its verifier key';
    throw new NoteError(`signed note: expected a signature by ${key.describe}, found signatures by ${found}; ${advice}`);
  }
  for (const sig of mine) {
    if (sig.signature.length !== 64) throw new NoteError(`signed note: expected a 64-byte Ed25519 signature by ${key.describe}, found ${sig.signature.length} bytes; the note was altered`);
    const ok = await crypto.subtle.verify({ name: 'Ed25519' }, key.cryptoKey, sig.signature, note.bodyBytes);
    if (!ok) throw new NoteError(`signed note: expected a valid signature by ${key.describe} over the note text, found one that does not verify; the text or signature was altered after signing, do not trust this note`);
  }
  return note;
}

/** {origin, size, root} of a checkpoint body (three lines), strictly. */
export function parseCheckpointBody(body) {
  if (!body.endsWith('\n')) throw new NoteError('checkpoint body: expected every line to end with a newline');
  const lines = body.slice(0, -1).split('\n');
  if (lines.length !== 3) throw new NoteError(`checkpoint body: expected exactly 3 lines (origin, size, root hash), found ${lines.length}`);
  const [origin, sizeLine, rootLine] = lines;
  if (!origin) throw new NoteError('checkpoint origin: expected a non-empty first line');
  if (!/^(0|[1-9][0-9]{0,19})$/.test(sizeLine)) throw new NoteError(`checkpoint size: expected a decimal number without sign or leading zeros, found ${JSON.stringify(sizeLine)}`);
  const root = b64decode(rootLine);
  if (root === null || root.length !== 32) throw new NoteError('checkpoint root: expected the base64 of a 32-byte SHA-256 hash');
  return { origin, size: Number(sizeLine), root };
}

/** The checkpoint of `bytes` if `key` signed it and its origin is the key's name. */
export async function verifyCheckpoint(bytes, key) {
  const note = await verifyNote(bytes, key);
  const cp = parseCheckpointBody(note.body);
  if (cp.origin !== key.name) {
    throw new NoteError(`checkpoint: expected origin ${JSON.stringify(key.name)}, found ${JSON.stringify(cp.origin)}; this checkpoint belongs to another log`);
  }
  return { ...cp, body: note.body, signatures: note.signatures };
}
