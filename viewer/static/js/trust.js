// The v1.1 members of a bundle (docs/BUNDLE.md §11): RFC 3161 time-stamp tokens and witness
// cosignatures, checked as verifier/bundle_trust.py does, at the same places and in
// the same words, except one thing the browser does not do: it does NOT verify a token's TSA
// signature nor its content (that needs a CMS/X.509 stack). A token is listed, hashed against
// the signed manifest like every member, and named for the checkpoint's size; its line is a
// WARN that says to check it with `temoin verify --tsa-roots` or `openssl ts -verify`.
// Witness cosignatures (C2SP cosignature/v1, Ed25519) are verified, with the keys the user gives.
import { b64decode, hex, sha256 } from './note.js';

export const BUNDLE_FORMAT_V1_1 = 'temoin.bundle/v1.1';
export const COSIGNED = 'checkpoint.cosigned.txt';
export const TIMESTAMP_PATH = /^timestamps\/(0|[1-9][0-9]{0,19})-([1-9][0-9]{0,3})\.tsr$/;
const TRUST_CHECKPOINT = 'checkpoint.txt';
const COSIG_PREFIX = '\u2014 ';
const COSIG_SIZE = 4 + 8 + 64;
const MAX_COSIG_TIME = 2n ** 63n - 1n;
const trustEnc = new TextEncoder();
const trustUtf8 = new TextDecoder('utf-8', { fatal: true });

export class CosignatureError extends Error {}

function startsWith(data, prefix) {
  if (data.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

function clip(text) { return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text); }

// ledger/signing.py _name_problem: a note key name.
function keyNameProblem(name) {
  if (!name) return 'it is empty';
  if (name.includes('+')) return "it contains '+'";
  for (const ch of name) {
    const code = ch.codePointAt(0);
    if (/\s/u.test(ch) || code === 0x85) return `it contains the space character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
    if (code < 0x20) return `it contains the control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return null;
}

/** `— name base64(key id || time || signature)` (final newline optional), as
 * ledger/cosignature.py parse_cosignature_line: {name, keyId, time (BigInt), signature}. */
export function parseCosignatureLine(line) {
  const text = line.endsWith('\n') ? line.slice(0, -1) : line;
  if (!text.startsWith(COSIG_PREFIX) || text.includes('\n')) {
    throw new CosignatureError(`cosignature line: expected one line '— <witness name> <base64>', found ${clip(text)}`);
  }
  const rest = text.slice(COSIG_PREFIX.length);
  const space = rest.indexOf(' ');
  const name = space < 0 ? rest : rest.slice(0, space);
  const sigB64 = space < 0 ? '' : rest.slice(space + 1);
  const problem = keyNameProblem(name);
  if (problem !== null) throw new CosignatureError(`cosignature line: expected a key name, found ${clip(name)}: ${problem}`);
  const raw = sigB64 ? b64decode(sigB64) : null;
  if (raw === null) throw new CosignatureError(`cosignature line: expected standard padded base64 after the name, found ${clip(sigB64)}`);
  if (raw.length !== COSIG_SIZE) {
    throw new CosignatureError(`cosignature line: expected ${COSIG_SIZE} bytes (4-byte key id, 8-byte time, 64-byte Ed25519 signature), found ${raw.length}; not a cosignature/v1 line`);
  }
  const time = new DataView(raw.buffer, raw.byteOffset + 4, 8).getBigUint64(0);
  if (time > MAX_COSIG_TIME) throw new CosignatureError(`cosignature time: expected at most 2**63-1, found ${time}`);
  return { name, keyId: raw.subarray(0, 4), time, signature: raw.subarray(12) };
}

/** A witness's verifier key `<name>+<8 hex key id>+base64(0x04 || public key)`. */
export async function parseWitnessKey(vkey) {
  const hint = 'copy the witness\'s verifier key as `temoin witness key` prints it';
  const first = vkey.indexOf('+');
  const second = first < 0 ? -1 : vkey.indexOf('+', first + 1);
  if (second < 0 || vkey !== vkey.trim()) {
    throw new CosignatureError(`witness key: expected '<name>+<8 hex key id>+<base64 key>' without spaces, found ${clip(vkey)}; ${hint}`);
  }
  const [name, idHex, b64] = [vkey.slice(0, first), vkey.slice(first + 1, second), vkey.slice(second + 1)];
  if (name === 'PRIVATE') throw new CosignatureError('witness key: expected a public verifier key, found a PRIVATE key; never share that string');
  const problem = keyNameProblem(name);
  if (problem !== null) throw new CosignatureError(`witness key name: expected a non-empty name without spaces, '+' or control characters, found ${clip(name)}: ${problem}`);
  if (!/^[0-9a-fA-F]{8}$/.test(idHex)) throw new CosignatureError(`witness key: expected an 8-hex-digit key id after the name, found ${clip(idHex)}; ${hint}`);
  const raw = b64decode(b64);
  if (raw === null) throw new CosignatureError(`witness key: expected standard padded base64 key data, found ${clip(b64)}; ${hint}`);
  if (!raw.length || raw[0] !== 0x04) {
    const found = raw.length ? `0x${raw[0].toString(16).padStart(2, '0')}` : 'nothing';
    const advice = raw.length && raw[0] === 0x01 ? " (0x01 is a log's note key: a witness key is the one `temoin witness key` prints)" : '';
    throw new CosignatureError(`witness key: expected algorithm byte 0x04 (cosignature/v1 Ed25519), found ${found}${advice}`);
  }
  if (raw.length !== 33) throw new CosignatureError(`witness key: expected a 32-byte Ed25519 key, found ${raw.length - 1} bytes; ${hint}`);
  const pub = raw.subarray(1);
  const nameBytes = trustEnc.encode(name);
  const material = new Uint8Array(nameBytes.length + 2 + 32);
  material.set(nameBytes);
  material.set([0x0a, 0x04], nameBytes.length);
  material.set(pub, nameBytes.length + 2);
  const keyId = (await sha256(material)).subarray(0, 4);
  if (hex(keyId) !== idHex.toLowerCase()) {
    throw new CosignatureError(`witness key: expected key id ${hex(keyId)} (the hash of its name and key), found ${idHex.toLowerCase()}; the key was edited or corrupted, ${hint}`);
  }
  let cryptoKey;
  try {
    cryptoKey = await crypto.subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
  } catch (exc) {
    throw new CosignatureError(`this browser cannot check Ed25519 signatures (${exc.message}); use a current Chromium, Firefox or Safari, or 'temoin verify'`);
  }
  return { name, keyId, cryptoKey, describe: `${name}+${hex(keyId)}` };
}

/** Check one cosignature line by `witness` over `body` (the checkpoint's text); its time. */
async function verifyCosignature(witness, line, body) {
  const { name, keyId, time, signature } = parseCosignatureLine(line);
  if (name !== witness.name || hex(keyId) !== hex(witness.keyId)) {
    throw new CosignatureError(`cosignature: expected a line by ${witness.describe}, found one by ${name}+${hex(keyId)}; it is another witness's (or a note signature)`);
  }
  const message = trustEnc.encode(`cosignature/v1\ntime ${time}\n${body}`);
  if (!await crypto.subtle.verify({ name: 'Ed25519' }, witness.cryptoKey, signature, message)) {
    throw new CosignatureError(`cosignature by ${witness.name}: expected a valid Ed25519 signature over cosignature/v1 time ${time} and the checkpoint, found one that does not verify; the checkpoint or the line was altered, or it cosigns another checkpoint`);
  }
  return time;
}

function isoSeconds(time) {
  const capped = time > 253402300799n ? 253402300799n : time;
  return new Date(Number(capped) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The checks of verifier.bundle_trust.check_trust, recorded on `r` (a Report): every token
 * the manifest lists (hashed with the members, NOT verified here: a WARN line says so), the
 * cosigned checkpoint's lines, and each witness key the user gave. `options`: {witnesses:
 * [vkey text], quorum: number | null}. Sets r.trust for the verdict. */
export async function checkTrust(r, members, timestamps, checkpoint, options) {
  const witnesses = options.witnesses || [];
  const summary = { tokens: [], cosigned: [], unchecked: [], witnessesGiven: witnesses.length };
  r.trust = summary;
  const note = members.get(TRUST_CHECKPOINT);
  for (const name of [...members.keys()].filter((n) => TIMESTAMP_PATH.test(n)).sort()) {
    if (!timestamps.has(name)) {
      r.failed(name, "is listed in the manifest's timestamps", 'a token the manifest does not attribute to a TSA: do not rely on it');
    }
  }
  for (const [path, url] of timestamps) token(r, members.get(path), path, url, note, checkpoint);
  await cosignatures(r, members.get(COSIGNED), note, checkpoint, witnesses, options.quorum ?? null);
}

function token(r, der, path, url, note, checkpoint) {
  const name = 'RFC 3161 time-stamp token over checkpoint.txt';
  if (der === undefined) { r.failed(path, name, 'missing from the ZIP or unusable (see above)'); return; }
  if (note === undefined || checkpoint === null) {
    r.failed(path, name, 'not checked: checkpoint.txt is missing or did not verify');
    return;
  }
  const size = Number(TIMESTAMP_PATH.exec(path)[1]);
  if (size !== checkpoint.size) {
    r.failed(path, name, `named for checkpoint size ${size}, but checkpoint.txt has size ${checkpoint.size}`);
    return;
  }
  r.trust.tokens.push({ path, url });
  r.warned(path, name, `from ${url}, ${der.length.toLocaleString('en-US')} bytes, its SHA-256 as in the signed manifest; `
    + 'NOT verified in the browser (neither its TSA signature nor its time): check it with '
    + `\`temoin verify BUNDLE.zip --tsa-roots tsa-root.pem\` or \`openssl ts -verify -data checkpoint.txt -in ${path} -CAfile tsa-root.pem\``);
}

function cosignedLines(r, cosigned, note) {
  if (note === undefined || !startsWith(cosigned, note)) {
    r.failed(COSIGNED, 'begins with checkpoint.txt byte for byte', 'it does not: it is not a cosigned copy of this bundle\'s checkpoint');
    return [];
  }
  let rest;
  try {
    rest = trustUtf8.decode(cosigned.subarray(note.length));
  } catch {
    r.failed(COSIGNED, 'holds cosignature lines after the checkpoint', 'not UTF-8');
    return [];
  }
  const found = [];
  const lines = rest.match(/[^\n]*\n|[^\n]+$/g) || [];
  for (let i = 0; i < lines.length; i++) {
    try {
      if (!lines[i].endsWith('\n')) throw new CosignatureError('the last line has no final newline');
      const { name, keyId } = parseCosignatureLine(lines[i]);
      found.push({ name, keyId: hex(keyId), line: lines[i] });
    } catch (exc) {
      r.failed(COSIGNED, 'holds cosignature lines after the checkpoint', `extra line ${i + 1}: ${exc.message}`);
      return [];
    }
  }
  return found;
}

async function cosignatures(r, cosigned, note, checkpoint, witnesses, quorum) {
  const lines = cosigned === undefined ? [] : cosignedLines(r, cosigned, note);
  const summary = r.trust;
  if (witnesses.length === 0) {
    summary.unchecked = lines.map((l) => l.name);
    if (lines.length) {
      r.passed(COSIGNED, `carries ${lines.length} witness cosignature(s)`,
        `by ${summary.unchecked.join(', ')}; not checked: give the witness's key (--witness '<witness key>') to check them`);
    }
  }
  const missing = [];
  for (const vkey of witnesses) {
    let witness;
    try {
      witness = await parseWitnessKey(vkey.trim());
    } catch (exc) {
      r.failed('--witness', 'is a witness verifier key', exc.message);
      continue;
    }
    const place = `witness ${witness.name}`;
    const mine = lines.filter((l) => l.name === witness.name && l.keyId === hex(witness.keyId));
    if (mine.length === 0) { missing.push(`${witness.name} (no cosignature in the bundle)`); continue; }
    if (checkpoint === null) {
      r.failed(place, 'cosigned checkpoint.txt', 'not checked: checkpoint.txt is missing or did not verify');
      missing.push(witness.name);
      continue;
    }
    let when;
    try {
      when = await verifyCosignature(witness, mine[0].line, checkpoint.body);
    } catch (exc) {
      r.failed(place, 'cosigned checkpoint.txt (C2SP cosignature/v1)', `${exc.message}; in ${COSIGNED}`);
      missing.push(`${witness.name} (invalid cosignature)`);
      continue;
    }
    summary.cosigned.push([witness.name, isoSeconds(when)]);
    r.passed(place, 'cosigned checkpoint.txt (C2SP cosignature/v1)', `at ${isoSeconds(when)}, with the key you gave`);
  }
  const need = quorum !== null ? quorum : (witnesses.length ? witnesses.length : null);
  if (need === null) return;
  const got = summary.cosigned.length;
  const given = witnesses.length;
  r.check('--quorum', `at least ${need} of the ${given} witnesses you gave cosigned the checkpoint`,
    got >= need ? null
      : `cosigned by ${got} of the ${given} witnesses you gave, ${need} required${missing.length ? `; missing: ${missing.join(', ')}` : ''}`,
    `cosigned by ${got} of the ${given} witnesses you gave`);
}
