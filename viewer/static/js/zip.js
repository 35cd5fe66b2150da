// A small ZIP reader for bundles (docs/BUNDLE.md §2): the central directory, ZIP64 end
// records and sizes, stored and DEFLATE members inflated with the browser's own
// DecompressionStream('deflate-raw'), each member's CRC-32 checked. It reads from a Blob
// (a dropped File), slicing only the parts it needs, so a bundle is never held whole.

const U32 = 0xffffffff;
const U16 = 0xffff;

export class ZipError extends Error {}

function u16(v, o) { return v.getUint16(o, true); }
function u32(v, o) { return v.getUint32(o, true); }
function u64(v, o) {
  // Exact up to 2**53, enough for any file a browser can hold; larger values are refused.
  const lo = v.getUint32(o, true);
  const hi = v.getUint32(o + 4, true);
  if (hi >= 0x200000) throw new ZipError(`a ZIP64 field of ${hi} * 2**32 bytes is larger than any file`);
  return hi * 0x100000000 + lo;
}

// Bundles up to this size are read into memory once (fast: no I/O per member); larger ones
// are read slice by slice from the File.
const IN_MEMORY = 256 * 2 ** 20;

/** A byte source over a Blob/File: {size, read(start, end), stream(start, end)}. */
export async function openSource(blob) {
  if (blob.size <= IN_MEMORY) {
    const buf = new Uint8Array(await blob.arrayBuffer());
    return {
      size: buf.length,
      read: async (start, end) => buf.subarray(start, Math.min(end, buf.length)),
      stream: (start, end) => new Blob([buf.subarray(start, Math.min(end, buf.length))]).stream(),
    };
  }
  return {
    size: blob.size,
    read: async (start, end) => new Uint8Array(await blob.slice(start, end).arrayBuffer()),
    stream: (start, end) => blob.slice(start, end).stream(),
  };
}

async function bytesOf(src, start, end) {
  return src.read(start, end);
}

function view(bytes) {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

let crcTable = null;
function table() {
  if (crcTable === null) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  return crcTable;
}

export function crc32(data, crc = 0) {
  const t = table();
  let c = ~crc;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** The central directory of the source `blob` (from openSource): [{name, method, flags, crc, csize, usize, offset}]. */
export async function readDirectory(blob) {
  const length = blob.size;
  if (length < 22) throw new ZipError(`${length} bytes: too short for a ZIP archive`);
  const tailStart = Math.max(0, length - 22 - 0xffff);
  const tail = await bytesOf(blob, tailStart, length);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail[i] === 0x50 && tail[i + 1] === 0x4b && tail[i + 2] === 5 && tail[i + 3] === 6) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError('File is not a zip file (no end of central directory record)');
  const tv = view(tail);
  let count = u16(tv, eocd + 10);
  let cdSize = u32(tv, eocd + 12);
  let cdOffset = u32(tv, eocd + 16);
  const eocdAbs = tailStart + eocd;
  // ZIP64 end-of-central-directory locator, just before the classic record.
  if (eocdAbs >= 20) {
    const loc = view(await bytesOf(blob, eocdAbs - 20, eocdAbs));
    if (u32(loc, 0) === 0x07064b50) {
      const at = u64(loc, 8);
      const rec = view(await bytesOf(blob, at, at + 56));
      if (rec.byteLength < 56 || u32(rec, 0) !== 0x06064b50) {
        throw new ZipError('corrupt ZIP64 end of central directory record');
      }
      count = u64(rec, 32);
      cdSize = u64(rec, 40);
      cdOffset = u64(rec, 48);
    }
  }
  if (cdOffset + cdSize > length) {
    throw new ZipError(`the central directory (${cdSize} bytes at ${cdOffset}) lies beyond the file's end (${length} bytes): the file is truncated`);
  }
  const cd = await bytesOf(blob, cdOffset, cdOffset + cdSize);
  const v = view(cd);
  const decoder = new TextDecoder('utf-8');
  const members = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || u32(v, p) !== 0x02014b50) {
      throw new ZipError(`bad central directory entry ${i}: the file is damaged`);
    }
    const flags = u16(v, p + 8);
    const method = u16(v, p + 10);
    const crc = u32(v, p + 16);
    let csize = u32(v, p + 20);
    let usize = u32(v, p + 24);
    const nameLen = u16(v, p + 28);
    const extraLen = u16(v, p + 30);
    const commentLen = u16(v, p + 32);
    let offset = u32(v, p + 42);
    const name = decoder.decode(cd.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extended information (0x0001): the fields that are 0xFFFFFFFF, in this order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = u16(v, e);
      const size = u16(v, e + 2);
      if (id === 1) {
        let q = e + 4;
        if (usize === U32) { usize = u64(v, q); q += 8; }
        if (csize === U32) { csize = u64(v, q); q += 8; }
        if (offset === U32) { offset = u64(v, q); q += 8; }
      }
      e += 4 + size;
    }
    members.push({ name, flags, method, crc, csize, usize, offset });
    p = extraEnd + commentLen;
  }
  if (count === U16 && members.length === 0) throw new ZipError('empty central directory');
  return members;
}

async function* chunks(stream) {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

// Members up to this compressed size are inflated in one call: an entry or a proof costs one
// DecompressionStream and one promise, not a reader loop (2,000 members of a 1,000-entry
// bundle took 1.4 s the other way). Small, because the one call cannot stop at the declared
// size: 64 KiB of DEFLATE inflates to 64 MiB at most; larger members stream and stop there.
const SMALL = 64 * 1024;

async function inflateSmall(compressed, usize) {
  let out;
  try {
    const ds = new DecompressionStream('deflate-raw');
    const writer = ds.writable.getWriter();
    writer.write(compressed).catch(() => {});
    writer.close().catch(() => {});
    out = new Uint8Array(await new Response(ds.readable).arrayBuffer());
  } catch (exc) {
    throw new ZipError(`Error -3 while decompressing data: ${exc.message || exc}`);
  }
  if (out.length !== usize) throw new ZipError(`${out.length} bytes, ${usize} declared`);
  return out;
}

async function inflateStream(stream, usize) {
  const out = new Uint8Array(usize);
  let filled = 0;
  try {
    for await (const chunk of chunks(stream.pipeThrough(new DecompressionStream('deflate-raw')))) {
      if (filled + chunk.length > usize) throw new ZipError('more bytes than its declared size');
      out.set(chunk, filled);
      filled += chunk.length;
    }
  } catch (exc) {
    if (exc instanceof ZipError) throw exc;
    throw new ZipError(`Error -3 while decompressing data: ${exc.message || exc}`);
  }
  if (filled !== usize) throw new ZipError(`${filled} bytes, ${usize} declared`);
  return out;
}

/** The bytes of `member`, decompressed; throws ZipError on a damaged member (bad local
 * header, inflate error, size or CRC-32 mismatch), as Python's zipfile does. */
export async function readMember(blob, member) {
  const head = view(await bytesOf(blob, member.offset, member.offset + 30));
  if (head.byteLength < 30 || u32(head, 0) !== 0x04034b50) {
    throw new ZipError('Bad magic number for file header');
  }
  const nameLen = u16(head, 26);
  const extraLen = u16(head, 28);
  const localName = new TextDecoder().decode(
    await bytesOf(blob, member.offset + 30, member.offset + 30 + nameLen));
  if (localName !== member.name) {
    throw new ZipError(`File name in directory ${JSON.stringify(member.name)} and header ${JSON.stringify(localName)} differ.`);
  }
  const start = member.offset + 30 + nameLen + extraLen;
  let out;
  if (member.method === 0) {
    out = (await bytesOf(blob, start, start + member.csize)).slice();
  } else {
    out = member.csize <= SMALL
      ? await inflateSmall(await bytesOf(blob, start, start + member.csize), member.usize)
      : await inflateStream(blob.stream(start, start + member.csize), member.usize);
  }
  if (out.length !== member.usize) throw new ZipError(`${out.length} bytes, ${member.usize} declared`);
  const crc = crc32(out);
  if (crc !== member.crc) throw new ZipError(`Bad CRC-32 for file '${member.name}'`);
  return out;
}
