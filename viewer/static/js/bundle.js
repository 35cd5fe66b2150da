// In-browser verification of a `temoin.bundle/v1` bundle (docs/BUNDLE.md §7): the same checks,
// in the same order, at the same places and in the same words as verifier/bundle.py
// (`temoin verify BUNDLE.zip --key K`), so that a lawyer can compare the two line by line.
// No server call: the ZIP, the key the user trusts and WebCrypto are all it needs.
import { hex, NoteError, parseVerifierKey, sha256, verifyCheckpoint, verifyNote } from './note.js';
import { leafHash, ProofError, verifyInclusion } from './merkle.js';
import { openSource, readDirectory, readMember, ZipError } from './zip.js';
import { BUNDLE_FORMAT_V1_1, checkTrust, COSIGNED, TIMESTAMP_PATH } from './trust.js';

export const BUNDLE_FORMAT = 'temoin.bundle/v1';
const MANIFEST = 'manifest.json';
const MANIFEST_SIG = 'manifest.sig';
const CHECKPOINT = 'checkpoint.txt';
const LOG_KEY = 'log-key.txt';
const FIXED_MEMBERS = [CHECKPOINT, LOG_KEY, 'HOW-TO-VERIFY.txt', 'timeline.pdf', 'report.pdf', 'report.json'];
const ENTRY_PATH = /^entries\/(0|[1-9][0-9]{0,19})\.json$/;
const PROOF_PATH = /^proofs\/(0|[1-9][0-9]{0,19})\.json$/;
const OPENING_PATH = /^openings\/(0|[1-9][0-9]{0,19})\.json$/;
const EVIDENCE_PATH = /^evidence\/([0-9a-f]{64})$/;
const HEX64 = /^[0-9a-f]{64}$/;
const MAX_MEMBERS = 100000;
const MAX_PARSED_SIZE = 64 * 2 ** 20;
const MAX_PARSED_TOTAL = 1024 * 2 ** 20;
const MAX_RATIO = 1100;
const RATIO_FLOOR = 2 ** 20;
const WAVE = 64;
const MANIFEST_FIELDS = ['case', 'checkpoint_size', 'created_at', 'format', 'log', 'members', 'tenant'];
// Absent from bundles made before created_at became the build time (it was then the
// checkpoint's signing time): those still verify.
const OPTIONAL_MANIFEST_FIELDS = ['checkpoint_signed_at'];
const pyList = (names) => `[${names.map((n) => `'${n}'`).join(', ')}]`;
const ENTRY_FIELDS = ['case', 'case_seq', 'data', 'evidence', 'format', 'log', 'occurred_at', 'personal', 'prev', 'recorded_at', 'source', 'tenant', 'type'];
const PROOF_FIELDS = ['index', 'leaf_hash', 'proof', 'size'];
const NO_KEY = 'not checked: log-key.txt is missing or unusable, and no --key was given';

const utf8 = new TextDecoder('utf-8');
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const utf8enc = new TextEncoder();
const num = (n) => n.toLocaleString('en-US');
const short = (h) => (h.length <= 16 ? h : `${h.slice(0, 16)}…`);
const sameKeys = (obj, fields) => {
  const keys = Object.keys(obj).sort();
  return keys.length === fields.length && keys.every((k, i) => k === fields[i]);
};
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isInt = (v) => Number.isInteger(v);

class Report {
  constructor() {
    this.checks = [];
    this.entries = 0;
    this.evidenceFiles = 0;
    this.openings = 0;
  }
  // WARN: a harmless difference, said and ignored (folder entries a ZIP tool added); never a failure.
  get ok() { return this.checks.length > 0 && this.checks.every((c) => c.status !== 'KO'); }
  get failures() { return this.checks.filter((c) => c.status === 'KO'); }
  get warnings() { return this.checks.filter((c) => c.status === 'WARN'); }
  warned(place, name, detail) { this.checks.push({ status: 'WARN', place, name, detail }); }
  passed(place, name, detail = '') { this.checks.push({ status: 'OK', place, name, detail }); }
  failed(place, name, detail) { this.checks.push({ status: 'KO', place, name, detail }); }
  check(place, name, problem, detail = '') {
    if (problem === null) { this.passed(place, name, detail); return true; }
    this.failed(place, name, problem);
    return false;
  }
}

// ------------------------------------------------------------------ JSON

function strictParse(bytes) {
  let text;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    throw new Error('not UTF-8');
  }
  let value;
  try {
    value = JSON.parse(text);
  } catch (exc) {
    throw new Error(`not JSON: ${exc.message}`);
  }
  noFloats(value, '$');
  return value;
}

function noFloats(value, path) {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new Error(`${path}: floats (and integers beyond 2**53) are not allowed, got ${value}`);
  }
  if (Array.isArray(value)) value.forEach((v, i) => noFloats(v, `${path}[${i}]`));
  else if (isObject(value)) for (const [k, v] of Object.entries(value)) noFloats(v, `${path}.${k}`);
}

// The canonical encoding of docs/FORMAT.md §1: sorted keys, no white space, UTF-8.
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function parseEntry(raw) {
  let obj;
  try {
    obj = strictParse(raw);
  } catch (exc) {
    throw new Error(`entry is not canonical JSON: ${exc.message}`);
  }
  const again = utf8enc.encode(canonical(obj));
  if (again.length !== raw.length || again.some((b, i) => b !== raw[i])) {
    throw new Error('entry is not canonical JSON: its bytes differ from the canonical encoding of its value (white space, key order, escapes or duplicate keys)');
  }
  if (!isObject(obj)) throw new Error('entry must be a JSON object');
  if (obj.format !== 'temoin.entry/v1') throw new Error(`unknown entry format ${JSON.stringify(obj.format)}, want "temoin.entry/v1"`);
  if (!sameKeys(obj, ENTRY_FIELDS)) throw new Error(`entry fields differ from v1: ${Object.keys(obj).sort().join(', ')}`);
  if (obj.prev !== null && !(typeof obj.prev === 'string' && HEX64.test(obj.prev))) throw new Error(`prev must be null or 64 lowercase hex digits, got ${JSON.stringify(obj.prev)}`);
  if (!isInt(obj.case_seq) || obj.case_seq < 1) throw new Error(`case_seq must be an integer >= 1, got ${JSON.stringify(obj.case_seq)}`);
  for (const name of ['log', 'tenant', 'case', 'type', 'occurred_at', 'recorded_at', 'source']) {
    if (typeof obj[name] !== 'string') throw new Error(`${name} must be a string, got ${JSON.stringify(obj[name])}`);
  }
  if (!isObject(obj.data) || !isObject(obj.personal)) throw new Error('data and personal must be objects');
  if (!Array.isArray(obj.evidence)) throw new Error('evidence must be a list');
  return obj;
}

function parseManifest(raw) {
  const obj = strictParse(raw);
  if (!isObject(obj)) throw new Error('expected a JSON object');
  const form = obj.format;
  if (form !== BUNDLE_FORMAT && form !== BUNDLE_FORMAT_V1_1) {
    throw new Error(`format is ${JSON.stringify(form)}, expected '${BUNDLE_FORMAT}' or '${BUNDLE_FORMAT_V1_1}': use a verifier that knows its format`);
  }
  const v11 = form === BUNDLE_FORMAT_V1_1;
  const required = v11 ? [...MANIFEST_FIELDS, 'timestamps'].sort() : MANIFEST_FIELDS;
  const keys = Object.keys(obj);
  if (!required.every((k) => keys.includes(k))
    || !keys.every((k) => required.includes(k) || OPTIONAL_MANIFEST_FIELDS.includes(k))) {
    throw new Error(`fields are ${pyList(keys.sort())}, expected ${pyList(required)} and optionally ${pyList(OPTIONAL_MANIFEST_FIELDS)}`);
  }
  const times = ['created_at', 'checkpoint_signed_at'].filter((n) => n in obj);
  for (const name of ['tenant', 'case', 'log', ...times]) {
    if (typeof obj[name] !== 'string') throw new Error(`${name} must be a string, found ${JSON.stringify(obj[name])}`);
  }
  for (const name of times) {
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(obj[name])) {
      throw new Error(`${name} must be an RFC 3339 time with a zone, found ${JSON.stringify(obj[name])}`);
    }
  }
  if (!isInt(obj.checkpoint_size) || obj.checkpoint_size < 1) throw new Error(`checkpoint_size must be an integer >= 1, found ${JSON.stringify(obj.checkpoint_size)}`);
  if (!Array.isArray(obj.members)) throw new Error('members must be a list');
  const members = new Map();
  obj.members.forEach((item, i) => {
    if (!(isObject(item) && sameKeys(item, ['path', 'sha256', 'size']))) throw new Error(`members[${i}] must be {path, sha256, size}`);
    if (typeof item.path !== 'string' || !inLayout(item.path, v11)) throw new Error(`members[${i}]: ${JSON.stringify(item.path)} is not a ${form} member`);
    if (!(typeof item.sha256 === 'string' && HEX64.test(item.sha256))) throw new Error(`members[${i}]: sha256 must be 64 lowercase hex digits`);
    if (!isInt(item.size) || item.size < 0) throw new Error(`members[${i}]: size must be an integer >= 0`);
    if (members.has(item.path)) throw new Error(`members[${i}]: ${item.path} is listed twice`);
    members.set(item.path, [item.sha256, item.size]);
  });
  return { tenant: obj.tenant, case: obj.case, log: obj.log, checkpointSize: obj.checkpoint_size, createdAt: obj.created_at, members, checkpointSignedAt: obj.checkpoint_signed_at ?? null,
    format: form, timestamps: v11 ? parseTimestamps(obj.timestamps) : new Map() };
}

// v1.1 `timestamps`: [{path, tsa}] -> Map(path -> TSA URL), in the manifest's order.
function parseTimestamps(items) {
  if (!Array.isArray(items)) throw new Error('timestamps must be a list');
  const found = new Map();
  items.forEach((item, i) => {
    if (!(isObject(item) && sameKeys(item, ['path', 'tsa']) && typeof item.path === 'string' && typeof item.tsa === 'string')) {
      throw new Error(`timestamps[${i}] must be {path, tsa}, found ${JSON.stringify(item)}`);
    }
    if (!TIMESTAMP_PATH.test(item.path) || found.has(item.path)) {
      throw new Error(`timestamps[${i}]: ${JSON.stringify(item.path)} is not a new timestamps/<size>-<n>.tsr path`);
    }
    found.set(item.path, item.tsa);
  });
  return found;
}

function inLayout(path, v11 = false) {
  if (v11 && (path === COSIGNED || TIMESTAMP_PATH.test(path))) return true;
  return FIXED_MEMBERS.includes(path) || [ENTRY_PATH, PROOF_PATH, OPENING_PATH, EVIDENCE_PATH].some((p) => p.test(path));
}

function parseProof(raw, index, leafHex) {
  const obj = strictParse(raw);
  if (!isObject(obj) || !sameKeys(obj, PROOF_FIELDS)) throw new Error('expected an object {index, size, leaf_hash, proof}');
  if (obj.index !== index) throw new Error(`index is ${JSON.stringify(obj.index)}, expected ${index}`);
  if (!isInt(obj.size)) throw new Error(`size must be an integer, found ${JSON.stringify(obj.size)}`);
  if (obj.leaf_hash !== leafHex) throw new Error(`leaf_hash is ${JSON.stringify(obj.leaf_hash)}, but SHA-256(0x00 || entries/${index}.json) is ${leafHex}: the entry or its proof was altered`);
  if (!Array.isArray(obj.proof) || !obj.proof.every((h) => typeof h === 'string' && HEX64.test(h))) throw new Error('proof must be a list of 64-hex-digit hashes');
  return [obj.size, obj.proof.map(unhex)];
}

function unhex(h) {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// ------------------------------------------------------------------ the ZIP

function unsafeName(name) {
  if (!name || name.endsWith('/')) return 'is a folder entry or has an empty name';
  if (/[\\\0:]/.test(name)) return 'contains a backslash, NUL or colon';
  if (name.startsWith('/')) return 'is an absolute path';
  if (name.split('/').some((p) => p === '' || p === '.' || p === '..')) return "contains an empty, '.' or '..' path component";
  return null;
}

function isParsed(name) {
  return [MANIFEST, MANIFEST_SIG, CHECKPOINT, LOG_KEY, COSIGNED].includes(name)
    || [ENTRY_PATH, PROOF_PATH, OPENING_PATH, TIMESTAMP_PATH].some((p) => p.test(name));
}

// `name` is the member's name in the bundle's layout (without a top folder, see topFolder).
function memberProblem(m, name) {
  const unsafe = unsafeName(m.name);
  if (unsafe !== null) return `unsafe name: it ${unsafe}; do not unzip this file with ordinary tools`;
  if (m.flags & 1) return 'is encrypted; a bundle never is';
  if (m.method !== 0 && m.method !== 8) return `uses compression method ${m.method}; a bundle uses stored or deflate`;
  if (isParsed(name) && m.usize > MAX_PARSED_SIZE) return `declares ${num(m.usize)} bytes, over the limit of ${num(MAX_PARSED_SIZE)} for a member that is read into memory`;
  if (m.usize > RATIO_FLOOR && m.usize > MAX_RATIO * m.csize) return `declares ${num(m.usize)} bytes from ${num(m.csize)} compressed: impossible for deflate (zip bomb or forged header)`;
  return null;
}

class Members {
  constructor(src) {
    this.src = src;
    this.data = new Map();
    this.streamed = new Map();
    this.broken = new Set();
    this.digests = new Map();
  }
  names() { return [...this.data.keys(), ...this.streamed.keys(), ...this.broken]; }
  present(name) { return this.data.has(name) || this.streamed.has(name); }
  declaredSize(name) { return this.data.has(name) ? this.data.get(name).length : this.streamed.get(name).usize; }
  async digest(name) {
    if (!this.digests.has(name)) this.digests.set(name, await this.compute(name));
    return this.digests.get(name);
  }
  async compute(name) {
    let bytes = this.data.get(name);
    if (bytes === undefined) {
      try {
        bytes = await readMember(this.src, this.streamed.get(name));
      } catch (exc) {
        return `cannot be read to its end (${exc.message}): its bytes in the ZIP were altered or damaged; do not rely on this bundle, ask for it again`;
      }
    }
    return { sha256: hex(await sha256(bytes)), size: bytes.length };
  }
}

// A folder entry as ordinary ZIP tools add them (`zip -r` adds one per folder): a safe name
// ending in "/" and no data. Unzipping one only makes a folder, so it is ignored with a WARN
// line; one with data or an unsafe name is not that, and fails.
function folderEntry(info) {
  return info.name.endsWith('/') && info.usize === 0 && unsafeName(info.name.slice(0, -1)) === null;
}

// The folder "F/" that every file of the ZIP is in, when it holds manifest.json, as when an
// unzipped bundle is zipped again with its folder (`zip -r new.zip F/`); else "". One level.
function topFolder(infos) {
  const names = infos.filter((i) => !folderEntry(i)).map((i) => i.name);
  const manifests = names.filter((n) => n.split('/').length === 2 && n.endsWith(`/${MANIFEST}`));
  if (manifests.length !== 1) return '';
  const top = manifests[0].slice(0, -MANIFEST.length);
  if (unsafeName(top.slice(0, -1)) !== null || !names.every((n) => n.startsWith(top))) return '';
  return top;
}

// The members to check, each as [name in the bundle's layout, info]: without the folder
// entries and the common top folder ZIP tools add (each said in a WARN line).
function withoutToolAdditions(infos, top, report) {
  if (top) {
    report.warned('bundle', `every file is in the folder ${top}`,
      `the bundle was unzipped and zipped again with its folder (as \`zip -r new.zip ${top}\` does); its files are checked under their names without ${top}`);
  }
  const folders = infos.filter(folderEntry).map((i) => i.name);
  if (folders.length) {
    const shown = folders.slice(0, 8).join(', ') + (folders.length > 8 ? ` and ${folders.length - 8} more` : '');
    report.warned('bundle', `${folders.length} folder entr${folders.length === 1 ? 'y' : 'ies'} ignored`,
      `${shown}: added by a ZIP tool when the bundle was unzipped and zipped again; they hold no data, and every file is still checked`);
  }
  return infos.filter((i) => !folderEntry(i)).map((i) => [i.name.slice(top.length), i]);
}

const removePrefix = (name, top) => (top && name.startsWith(top) ? name.slice(top.length) : name);

async function readZip(blob, report) {
  let src;
  let infos;
  try {
    src = await openSource(blob);
    infos = await readDirectory(src);
  } catch (exc) {
    report.failed('bundle', 'is a readable ZIP archive', `${exc.message}; the file is damaged or is not a bundle: ask for it again`);
    return null;
  }
  const length = src.size;
  let problem = null;
  const packed = infos.reduce((n, i) => n + i.csize, 0);
  const top = topFolder(infos);
  const parsed = infos.filter((i) => isParsed(removePrefix(i.name, top))).reduce((n, i) => n + i.usize, 0);
  if (infos.length > MAX_MEMBERS) problem = `${num(infos.length)} members, over the limit of ${num(MAX_MEMBERS)}`;
  else if (packed > length) problem = `members declare ${num(packed)} compressed bytes, more than the file's ${num(length)}: overlapping members (zip bomb) or a truncated file`;
  else if (parsed > MAX_PARSED_TOTAL) problem = `declares ${num(parsed)} bytes of manifest, entries, proofs and openings, over the limit of ${num(MAX_PARSED_TOTAL)} read into memory`;
  if (!report.check('bundle', 'is a readable ZIP archive within the size limits', problem, `${infos.length} members, ${num(length)} bytes`)) return null;
  const files = withoutToolAdditions(infos, top, report);
  const counts = new Map();
  for (const [name] of files) counts.set(name, (counts.get(name) || 0) + 1);
  const members = new Members(src);
  // Parsed members are small: read them concurrently, then record the results in ZIP order.
  // A few at a time: thousands of decompression streams opened at once compete for the
  // same core and were slower than small waves.
  const settled = new Array(files.length).fill(null);
  const wanted = files.map((f, k) => k).filter((k) => {
    const [name, info] = files[k];
    return !memberProblem(info, name) && isParsed(name) && counts.get(name) === 1;
  });
  for (let w = 0; w < wanted.length; w += WAVE) {
    await Promise.all(wanted.slice(w, w + WAVE).map(async (k) => {
      settled[k] = await readMember(src, files[k][1]).then((b) => b, (exc) => exc);
    }));
  }
  files.forEach(([name, info], k) => {
    if (members.broken.has(name)) return;
    if (counts.get(name) > 1) {
      members.broken.add(name);
      report.failed(name, 'appears once in the ZIP', `appears ${counts.get(name)} times: unzip tools would keep only one`);
      return;
    }
    let bad = memberProblem(info, name);
    if (bad === null && !isParsed(name)) { members.streamed.set(name, info); return; }
    if (bad === null) {
      const got = settled[k];
      if (got instanceof Uint8Array) { members.data.set(name, got); return; }
      bad = `cannot be read (${got.message}): the ZIP is damaged, ask for the bundle again`;
    }
    members.broken.add(name);
    report.failed(name, 'is a safe, readable ZIP member', bad);
  });
  return members;
}

function numbered(data, pattern) {
  const found = [];
  for (const [name, bytes] of data) {
    const m = pattern.exec(name);
    if (m) found.push([Number(m[1]), bytes]);
  }
  return new Map(found.sort((a, b) => a[0] - b[0]));
}

function spans(list, limit = 10) {
  const text = list.slice(0, limit).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ');
  return text + (list.length > limit ? ` and ${list.length - limit} more ranges` : '');
}

function ranges(values) {
  const out = [];
  for (const v of [...values].sort((a, b) => a - b)) {
    if (out.length && v === out[out.length - 1][1] + 1) out[out.length - 1][1] = v;
    else out.push([v, v]);
  }
  return spans(out);
}

function gaps(present) {
  const out = [];
  let last = 0;
  for (const v of [...new Set(present)].sort((a, b) => a - b)) {
    if (v > last + 1) out.push([last + 1, v - 1]);
    last = v;
  }
  return out;
}

// ------------------------------------------------------------------ the checks

class BundleCheck {
  constructor(report, members, trusted, trust) {
    this.trustOptions = trust;
    this.r = report;
    this.zip = members;
    this.members = members.data;
    this.broken = members.broken;
    this.trustedText = trusted;
    this.fileKey = null;
    this.trustedKey = null;
    this.manifest = null;
    this.checkpoint = null;
    this.entries = new Map();
  }

  async run() {
    const t0 = performance.now();
    await this.keys();
    await this.manifestSignature();
    this.manifestContents();
    await this.memberHashes();
    this.r.timings.members = Math.round(performance.now() - t0);
    await this.checkpointNote();
    await this.entriesAndProofs();
    this.r.timings.entries = Math.round(performance.now() - t0);
    this.caseChain();
    await this.evidence();
    await this.openings();
    if (this.manifest !== null) {
      await checkTrust(this.r, this.members, this.manifest.timestamps, this.checkpoint, this.trustOptions);
    }
  }

  absent(name) { return this.broken.has(name) ? 'unusable (see above)' : 'missing from the ZIP'; }

  async keys() {
    const raw = this.members.get(LOG_KEY);
    if (raw === undefined) {
      this.r.failed(LOG_KEY, "holds the log's verifier key", this.absent(LOG_KEY));
    } else {
      let text = utf8.decode(raw);
      if (text.endsWith('\n')) text = text.slice(0, -1);
      try {
        this.fileKey = await parseVerifierKey(text);
        this.r.signerKey = this.fileKey.text;
        this.r.passed(LOG_KEY, 'holds a verifier key', this.fileKey.text);
      } catch (exc) {
        this.r.failed(LOG_KEY, 'holds a verifier key', exc.message);
      }
    }
    if (this.trustedText === null) return;
    try {
      this.trustedKey = await parseVerifierKey(this.trustedText.trim());
    } catch (exc) {
      this.r.failed('--key', 'is a verifier key', exc.message);
      return;
    }
    this.r.trustedKey = this.trustedKey.text;
    if (this.fileKey !== null) {
      const same = this.fileKey.text === this.trustedKey.text;
      this.r.check(LOG_KEY, 'is the key you trust (--key)', same ? null
        : `log-key.txt holds ${this.fileKey.text}, you trust ${this.trustedKey.text}: this bundle was not signed by the key you trust (or you were given the wrong key); get the log's key from its operator and do not rely on this bundle`);
    }
  }

  verifiers() {
    const found = [];
    if (this.fileKey !== null) found.push(['the key in log-key.txt', this.fileKey]);
    if (this.trustedKey !== null && (this.fileKey === null || this.trustedKey.text !== this.fileKey.text)) {
      found.push(['the trusted key (--key)', this.trustedKey]);
    }
    return found;
  }

  async verifyNoteAt(place, note) {
    let text = null;
    const verifiers = this.verifiers();
    if (verifiers.length === 0) this.r.failed(place, 'is signed by the log key', NO_KEY);
    for (const [label, key] of verifiers) {
      try {
        text = (await verifyNote(note, key)).body;
      } catch (exc) {
        this.r.failed(place, `is signed by ${label}`, exc.message);
        return null;
      }
      this.r.passed(place, `is signed by ${label}`, key.name);
    }
    return text;
  }

  async manifestSignature() {
    const sig = this.members.get(MANIFEST_SIG);
    const manifest = this.members.get(MANIFEST);
    if (sig === undefined || manifest === undefined) {
      for (const [name, data] of [[MANIFEST_SIG, sig], [MANIFEST, manifest]]) {
        if (data === undefined) this.r.failed(name, 'is present', `${this.absent(name)}: nothing in the bundle can be authenticated without it`);
      }
      return;
    }
    const body = await this.verifyNoteAt(MANIFEST_SIG, sig);
    if (body === null) return;
    const lines = body.split('\n');
    if (lines.length !== 3 || lines[0] !== BUNDLE_FORMAT || !HEX64.test(lines[1])) {
      this.r.failed(MANIFEST_SIG, `signs '${BUNDLE_FORMAT}' and a SHA-256`, `signed text is ${JSON.stringify(body.slice(0, 80))}: not a v1 bundle signature`);
      return;
    }
    const actual = hex(await sha256(manifest));
    this.r.check(MANIFEST, 'is the manifest signed in manifest.sig',
      body === `${BUNDLE_FORMAT}\n${actual}\n` ? null
        : `its SHA-256 is ${actual}, manifest.sig signs ${lines[1]}: manifest.json was altered or replaced`,
      `SHA-256 ${lines[1]}`);
  }

  manifestContents() {
    const raw = this.members.get(MANIFEST);
    if (raw === undefined) return;
    try {
      this.manifest = parseManifest(raw);
    } catch (exc) {
      this.r.failed(MANIFEST, `is a ${BUNDLE_FORMAT} manifest`, exc.message);
      return;
    }
    const m = this.manifest;
    Object.assign(this.r, { case: m.case, tenant: m.tenant, log: m.log, checkpointSize: m.checkpointSize, createdAt: m.createdAt, format: m.format });
    this.r.passed(MANIFEST, `is a ${m.format} manifest`, `case ${m.case} of tenant ${m.tenant}, log ${m.log}, checkpoint size ${m.checkpointSize}, created ${m.createdAt}${m.checkpointSignedAt ? ` (checkpoint signed ${m.checkpointSignedAt})` : ''}`);
  }

  async memberHashes() {
    if (this.manifest === null) return;
    const listed = this.manifest.members;
    for (const name of FIXED_MEMBERS) {
      if (!listed.has(name) && !this.zip.present(name) && !this.broken.has(name)) {
        this.r.failed(name, 'is present', 'missing from the ZIP and from manifest.json');
      }
    }
    // Digests are computed concurrently (evidence files are the slow part), reported in order.
    const digests = new Map();
    await Promise.all([...listed.keys()].filter((p) => this.zip.present(p) && !this.broken.has(p))
      .map(async (p) => { digests.set(p, await this.zip.digest(p)); }));
    for (const [path, [sha, size]] of listed) {
      if (!this.broken.has(path)) await this.member(path, sha, size);
    }
    for (const name of this.zip.names()) {
      if (!listed.has(name) && name !== MANIFEST && name !== MANIFEST_SIG) {
        this.r.failed(name, 'is listed in manifest.json', 'extra member, not listed in the signed manifest: it was added after signing and must not be relied on');
      }
    }
  }

  async member(path, sha, size) {
    if (!this.zip.present(path)) {
      this.r.failed(path, 'is present', 'listed in manifest.json but missing from the ZIP: the bundle is incomplete, ask for it again');
      return;
    }
    const name = 'SHA-256 and size as in the manifest';
    const declared = this.zip.declaredSize(path);
    if (declared !== size) {
      this.r.failed(path, name, `the ZIP declares ${num(declared)} bytes, manifest.json says ${num(size)}: this file was altered (it was not decompressed)`);
      return;
    }
    const found = await this.zip.digest(path);
    let problem = typeof found === 'string' ? found : null;
    if (typeof found !== 'string' && (found.sha256 !== sha || found.size !== size)) {
      problem = `SHA-256 ${found.sha256} and ${num(found.size)} bytes, manifest.json says ${sha} and ${num(size)} bytes: this file was altered`;
    }
    this.r.check(path, name, problem, `${short(sha)}, ${num(size)} bytes`);
  }

  async checkpointNote() {
    const note = this.members.get(CHECKPOINT);
    if (note === undefined) return;
    const verifiers = this.verifiers();
    let cp = null;
    if (verifiers.length === 0) this.r.failed(CHECKPOINT, 'is signed by the log key', NO_KEY);
    for (const [label, key] of verifiers) {
      try {
        cp = await verifyCheckpoint(note, key);
      } catch (exc) {
        this.r.failed(CHECKPOINT, `is signed by ${label}`, exc.message);
        cp = null;
        break;
      }
      this.r.passed(CHECKPOINT, `is signed by ${label}`, `log ${cp.origin}, size ${cp.size}, root ${hex(cp.root)}`);
    }
    this.checkpoint = cp;
    this.r.checkpoint = cp;
    const m = this.manifest;
    if (m !== null && cp !== null) {
      this.r.check(CHECKPOINT, 'is the checkpoint named in manifest.json',
        cp.origin === m.log && cp.size === m.checkpointSize ? null
          : `checkpoint of log ${cp.origin} size ${cp.size}, manifest.json names log ${m.log} size ${m.checkpointSize}`);
    }
  }

  async entriesAndProofs() {
    const entries = numbered(this.members, ENTRY_PATH);
    const proofs = numbered(this.members, PROOF_PATH);
    if (entries.size === 0) this.r.failed('entries/', "hold the case's entries", 'the bundle holds no entry');
    if (this.checkpoint === null && entries.size > 0) {
      this.r.failed('entries/', 'inclusion proofs checked against the checkpoint', 'not checked: checkpoint.txt is missing or did not verify');
    }
    // Hash every entry and check every proof concurrently; report in index order.
    const results = await Promise.all([...entries].map(async ([index, raw]) => {
      const lines = [];
      const sub = { passed: (...a) => lines.push(['passed', a]), failed: (...a) => lines.push(['failed', a]) };
      const entry = this.entry(sub, index, raw);
      if (entry !== null) await this.proof(sub, index, raw, proofs.get(index), entry);
      return [index, entry, lines];
    }));
    for (const [index, entry, lines] of results) {
      for (const [kind, args] of lines) this.r[kind](...args);
      if (entry !== null) this.entries.set(index, entry);
    }
    for (const index of proofs.keys()) {
      if (!entries.has(index)) this.r.failed(`proofs/${index}.json`, 'proves an entry of the bundle', `there is no entries/${index}.json`);
    }
    this.r.entries = this.entries.size;
  }

  entry(r, index, raw) {
    const place = `entries/${index}.json`;
    let entry;
    try {
      entry = parseEntry(raw);
    } catch (exc) {
      r.failed(place, 'is a canonical temoin.entry/v1 entry', exc.message);
      return null;
    }
    const m = this.manifest;
    if (m === null) return entry;
    const name = `belongs to case ${m.case} of tenant ${m.tenant} in log ${m.log}`;
    if (entry.log === m.log && entry.tenant === m.tenant && entry.case === m.case) {
      r.passed(place, name, `case_seq ${entry.case_seq}, ${entry.type}`);
    } else {
      r.failed(place, name, `it is entry ${entry.case_seq} of case ${entry.case} of tenant ${entry.tenant} in log ${entry.log}`);
    }
    return entry;
  }

  async proof(r, index, raw, proofRaw, entry) {
    const place = `proofs/${index}.json`;
    const leaf = await leafHash(raw);
    entry.leafHex = hex(leaf);
    if (proofRaw === undefined) {
      r.failed(place, 'is present', `entries/${index}.json has no proof`);
      return;
    }
    let size;
    let hashes;
    try {
      [size, hashes] = parseProof(proofRaw, index, entry.leafHex);
    } catch (exc) {
      r.failed(place, `is the proof of entries/${index}.json`, exc.message);
      return;
    }
    const cp = this.checkpoint;
    if (cp === null) return;
    if (size !== cp.size) {
      r.failed(place, `refers to checkpoint size ${cp.size}`, `it refers to size ${size}`);
      return;
    }
    r.passed(place, `is the proof of entries/${index}.json`, `leaf hash ${short(entry.leafHex)}`);
    const name = `inclusion proof against checkpoint size ${cp.size}`;
    try {
      await verifyInclusion(index, cp.size, leaf, hashes, cp.root);
      r.passed(`index ${index}`, name);
    } catch (exc) {
      if (!(exc instanceof ProofError)) throw exc;
      r.failed(`index ${index}`, name, `${exc.message}: entry ${index} is not proven to be in the log`);
    }
  }

  caseChain() {
    if (this.entries.size === 0 || this.manifest === null) return;
    const m = this.manifest;
    const place = `case ${m.case}`;
    const mine = [...this.entries].filter(([, e]) => e.log === m.log && e.tenant === m.tenant && e.case === m.case);
    const problems = chainProblems(mine);
    for (const p of problems) this.r.failed(place, 'case chain and case_seq', p);
    if (problems.length === 0 && mine.length > 0) {
      const last = mine[mine.length - 1][1].case_seq;
      this.r.passed(place, 'case chain and case_seq', `case_seq 1 to ${last} all present, each linked to the one before`);
    }
  }

  async evidence() {
    const wanted = new Map();
    for (const [index, entry] of this.entries) {
      for (const ref of entry.evidence) this.wantEvidence(index, ref, wanted);
    }
    const files = [...this.zip.streamed.keys()].filter((n) => EVIDENCE_PATH.test(n)).map((n) => n.slice(9));
    for (const sha of [...wanted.keys()].sort()) {
      const [size, index] = wanted.get(sha);
      const place = `evidence/${sha}`;
      if (!this.zip.present(place)) {
        this.r.failed(place, `is present (referenced by index ${index})`, this.absent(place));
        continue;
      }
      const name = `is the file referenced by index ${index}`;
      const declared = this.zip.declaredSize(place);
      if (declared !== size) {
        this.r.failed(place, name, `the ZIP declares ${num(declared)} bytes, index ${index} references ${num(size)} bytes: the file was altered`);
        continue;
      }
      const found = await this.zip.digest(place);
      let problem = typeof found === 'string' ? found : null;
      if (typeof found !== 'string' && (found.sha256 !== sha || found.size !== size)) {
        problem = `SHA-256 ${found.sha256} and ${num(found.size)} bytes, index ${index} references ${sha} and ${num(size)} bytes: the file was altered`;
      }
      this.r.check(place, name, problem, `${num(size)} bytes`);
    }
    for (const sha of files) {
      if (!wanted.has(sha)) this.r.failed(`evidence/${sha}`, 'is referenced by an entry', 'no entry of the bundle references this file');
    }
    this.r.evidenceFiles = files.length;
  }

  wantEvidence(index, ref, wanted) {
    const place = `entries/${index}.json`;
    const sha = isObject(ref) ? ref.sha256 : undefined;
    const size = isObject(ref) ? ref.size : undefined;
    if (!(typeof sha === 'string' && HEX64.test(sha) && isInt(size))) {
      this.r.failed(place, 'references evidence as {sha256, size, ...}', `found ${JSON.stringify(ref)}`);
      return;
    }
    if (!wanted.has(sha)) wanted.set(sha, [size, index]);
    const before = wanted.get(sha);
    if (before[0] !== size) {
      this.r.failed(place, `gives evidence/${sha} the size other entries give`, `${num(size)} bytes here, ${num(before[0])} in index ${before[1]}`);
    }
  }

  async openings() {
    const found = numbered(this.members, OPENING_PATH);
    for (const [index, raw] of found) await this.opening(index, raw);
    this.r.openings = found.size;
  }

  async opening(index, raw) {
    const place = `openings/${index}.json`;
    const entry = this.entries.get(index);
    if (entry === undefined) {
      this.r.failed(place, 'opens an entry of the bundle', `there is no valid entries/${index}.json`);
      return;
    }
    let values;
    try {
      const obj = strictParse(raw);
      if (!isObject(obj) || Object.keys(obj).length === 0) throw new Error('expected a non-empty object {field: {value, salt}}');
      values = Object.entries(obj).map(([name, item]) => {
        if (!(isObject(item) && sameKeys(item, ['salt', 'value']) && typeof item.value === 'string'
          && typeof item.salt === 'string' && /^[0-9a-f]{64}$/.test(item.salt))) {
          throw new Error(`${name}: expected {value, salt} with a 32-byte hex salt`);
        }
        return [name, item.value, unhex(item.salt)];
      });
    } catch (exc) {
      this.r.failed(place, 'is {field: {value, salt}}', exc.message);
      return;
    }
    const bad = [];
    for (const [name, value, salt] of values) {
      const key = await crypto.subtle.importKey('raw', salt, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      const mac = hex(new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8enc.encode(value))));
      if (entry.personal[name] !== mac) bad.push(name);
    }
    this.r.check(place, `personal values match the commitments in entries/${index}.json`,
      bad.length === 0 ? null
        : `${bad.join(', ')}: HMAC-SHA256(salt, value) differs from the commitment in entries/${index}.json (or the entry has no such field); the opening was altered`,
      values.map((v) => v[0]).join(', '));
  }
}

function chainProblems(entries) {
  const out = [];
  if (entries.length === 0) return out;
  const counts = new Map();
  for (const [, e] of entries) counts.set(e.case_seq, (counts.get(e.case_seq) || 0) + 1);
  const dupes = [...counts].filter(([, n]) => n > 1).map(([s]) => s);
  if (dupes.length) out.push(`case_seq ${ranges(dupes)} appear(s) more than once`);
  const last = Math.max(...counts.keys());
  const missing = gaps(counts.keys());
  if (missing.length) out.push(`case_seq ${spans(missing)} missing: the bundle must hold every entry of the case from case_seq 1 to its last (${last})`);
  const order = entries.map(([, e]) => e.case_seq);
  if (order.some((s, i) => i > 0 && s < order[i - 1])) out.push('case_seq does not grow with the log index: entries are out of order');
  const bySeq = new Map(entries.map(([i, e]) => [e.case_seq, [i, e]]));
  for (const [index, entry] of entries) {
    if (entry.case_seq === 1) {
      if (entry.prev !== null) out.push(`index ${index}: case_seq 1 must have prev null, found ${short(entry.prev)}`);
      if (entry.type !== 'CaseOpened') out.push(`index ${index}: case_seq 1 must be CaseOpened, found ${entry.type}`);
      continue;
    }
    const before = bySeq.get(entry.case_seq - 1);
    if (before === undefined) continue;
    const want = before[1].leafHex;
    if (entry.prev !== want) {
      out.push(`index ${index}: prev is ${short(String(entry.prev))}, but the leaf hash of case_seq ${entry.case_seq - 1} (index ${before[0]}) is ${short(want)}`);
    }
  }
  return out;
}

/** Verify a bundle (a Blob or File); `trustedKey` is the verifier key the user brings (or
 * null); `trust` the witness keys ({witnesses: [vkey], quorum: n | null}) to check a v1.1
 * bundle's cosignatures with. Returns {checks: [{status, place, name, detail}], ok, trust,
 * ...what the bundle claims}. */
export async function verifyBundle(blob, trustedKey = null, trust = { witnesses: [], quorum: null }) {
  const report = new Report();
  const t0 = performance.now();
  const members = await readZip(blob, report);
  report.timings = { zip: Math.round(performance.now() - t0) };
  if (members !== null) await new BundleCheck(report, members, trustedKey, trust).run();
  report.timings.total = Math.round(performance.now() - t0);
  return report;
}
