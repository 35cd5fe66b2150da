// RFC 9162 hashes (docs/FORMAT.md §2): leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 ||
// left || right), and the inclusion proof check of RFC 9162 §2.1.3.2.
import { sha256 } from './note.js';

export class ProofError extends Error {}

export async function leafHash(entry) {
  const buf = new Uint8Array(entry.length + 1);
  buf.set(entry, 1);
  return sha256(buf);
}

async function node(left, right) {
  const buf = new Uint8Array(65);
  buf[0] = 1;
  buf.set(left, 1);
  buf.set(right, 33);
  return sha256(buf);
}

/** Throws ProofError unless `proof` (leaf to root) proves `leaf` at `index` in `root`.
 * Arithmetic with Math.floor, not >>: indexes may exceed 2**31. */
export async function verifyInclusion(index, size, leaf, proof, root) {
  if (!(index < size)) throw new ProofError(`inclusion proof: index ${index} is not below size ${size}`);
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new ProofError(`inclusion proof: expected ${proof.length - 1} hashes at most, found more`);
    if (fn % 2 === 1 || fn === sn) {
      r = await node(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = await node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new ProofError('inclusion proof: too few hashes for this tree size');
  for (let i = 0; i < 32; i++) {
    if (r[i] !== root[i]) throw new ProofError('inclusion proof: the computed root differs from the checkpoint root');
  }
}
