"""The fast pass of `temoin verify`: prove a whole log clean in parallel, or say it is not.

`ledger.audit.verify_log` first runs this pass; only when it finds *anything* irregular does
it run the exact, serial verification, whose report names each anomaly at its place. So this
module never has to word an anomaly: it answers "clean" (with the counts and the tree roots
the report needs) or "not clean". Its checks are those of the exact pass, made cheap:

- each worker process opens its own connection and reads, in one transaction, a range of
  leaf indices (the tree) and a range of case numbers (the entries, their per-case chains and
  their sealed openings), so the per-case chains never cross a worker boundary;
- entries come *by case* (ordered by case number and version, the events' second key), so a
  case's chain is checked row after row and its openings are merged in the same order (the
  vault's key); if any case turns out not to be stored the way the append path writes it (versions
  dense from 1, case and tenant constant, index growing with the version), the pass is
  "not clean" and the exact pass, which follows the log's index order, decides;
- canonical JSON is proved by orjson re-encoding (`fast_parse`, byte-identical to
  `ledger.canonical.canonical_bytes` on every string, see tests/test_audit_fast.py), with the
  exact `parse_canonical` as the fallback for whatever the fast test does not accept;
- the tree is recomputed level by level from the stored leaf hashes, in chunks, and each level
  of a chunk is compared with the stored nodes in one list comparison.

The worker protocol is pickles over a pipe: the parent writes one `ScanTask` to the child's
stdin (`python -m ledger.audit_scan`), the child writes `("progress", n)` messages and one
`("result", ScanResult)` or `("error", text)` to its stdout.
"""

from __future__ import annotations

import gc
import hashlib
import pickle
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from uuid import UUID

import orjson

from ledger.canonical import CanonicalError, parse_canonical
from ledger.store.migrations.v4 import ENTRY_BITS
from ledger.store.scan_reader import ScanReader, Source

# The tree is checked in the workers up to this level; the parent folds the level-TOP hashes
# of all workers into the levels above. Worker index ranges start at multiples of 2**TOP, so
# no node at or below TOP straddles two workers.
TOP = 12
ALIGN = 1 << TOP
_CHUNK = 1 << 16  # leaves per tree chunk (a multiple of ALIGN): ~2 MB of hashes per chunk
_PROGRESS_EVERY = 1 << 15

# -- canonical JSON, fast ------------------------------------------------------------------
# After `orjson.dumps(obj) == raw`, a float in `obj` appears in `raw` the way orjson writes
# floats: digits with a fraction (`1.5`, `1.5e+20`) or with a signed exponent (`1e+16`,
# `1e-7`), and, the document being compact and an object, followed by `,`, `}` or `]`. The
# three patterns below match every such token (and, rarely, look-alikes inside strings, which
# only costs the slow path). Each starts with a literal (`.`, `e-`, `e+`), which the regex
# engine looks for with a fast byte search before trying the rest.
_FRACTION = re.compile(rb"\.[0-9]+[,}\]e]")
_EXPONENT_MINUS = re.compile(rb"e-[0-9]+[,}\]]")
_EXPONENT_PLUS = re.compile(rb"e\+[0-9]+[,}\]]")
# The json module gives up at Python's recursion limit (~1000 levels) where orjson goes on to
# 1024: a document that deep (it takes > 1000 bytes) is left to the exact parser.
_DEEP = 1000


# HMAC-SHA256 with a 32-byte key (the commitments' salts), RFC 2104 spelled out: the key
# padded to the block size, XORed with ipad/opad by a byte translation. Half the cost of
# hmac.digest, whose setup dominates for such short messages (tests/test_audit_fast.py).
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))
_ZEROS = bytes(32)


def hmac_sha256_32(key: bytes, message: bytes) -> bytes:
    """hmac.digest(key, message, "sha256") for a key of exactly 32 bytes."""
    if len(key) != 32:
        raise ValueError(f"key must be 32 bytes, got {len(key)}")
    block = key + _ZEROS
    inner = hashlib.sha256(block.translate(_IPAD) + message).digest()
    return hashlib.sha256(block.translate(_OPAD) + inner).digest()


def _ascii_keys(value: Any) -> bool:
    """Whether every object key in `value` is ASCII (canonical_bytes refuses the others)."""
    if type(value) is dict:
        for key, item in value.items():
            if not key.isascii():
                return False
            if type(item) in (dict, list) and not _ascii_keys(item):
                return False
    elif type(value) is list:
        for item in value:
            if type(item) in (dict, list) and not _ascii_keys(item):
                return False
    return True


def fast_parse(raw: bytes) -> Any:
    """`ledger.canonical.parse_canonical(raw)`, faster on the bytes the append path writes.

    Same value, same refusals (CanonicalError, same message): orjson's result is returned
    only when re-encoding it gives `raw` back byte for byte (no duplicate key, no white
    space, sorted keys, the same escapes), `raw` is an object, holds no float and only ASCII
    keys, and is shallow; anything else goes through `parse_canonical` itself.
    """
    try:
        obj = orjson.loads(raw)
        if (
            type(obj) is dict
            and orjson.dumps(obj, option=orjson.OPT_SORT_KEYS) == raw
            and not _FRACTION.search(raw)
            and not _EXPONENT_MINUS.search(raw)
            and not _EXPONENT_PLUS.search(raw)
            and (raw.isascii() or _ascii_keys(obj))
            and len(raw) < _DEEP
        ):
            return obj
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        pass
    return parse_canonical(raw)


# -- what a worker is asked and answers -------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ScanTask:
    source: Source
    size: int  # the log's size when verification started: leaves [0, size) are verified
    tree: tuple[int, int]  # leaf index range of the tree part; starts at a multiple of ALIGN
    # Case number range [lo, hi) (schema v4: a case's number is the entry key of its first
    # event, so a range of them is the cases opened in a range of this log's leaf indices).
    ids: tuple[int, int]
    sizes: tuple[int, ...]  # checkpoint sizes within the tree range, whose roots are wanted
    aggregate_id: Callable[[str, str], UUID]
    master: bytes | None  # the vault master key (raw), or None: openings are not checked


@dataclass(slots=True)
class ScanResult:
    clean: bool = True
    why: str = ""  # the first irregularity seen (for tests and debugging)
    entries: int = 0  # entries of the id range whose leaf index is below `size`
    openings: int = 0
    top: list[bytes] = field(default_factory=list)  # level-TOP hashes of the tree range
    # For each wanted checkpoint size, its frontier nodes below TOP: (level, idx, hash).
    frontiers: dict[int, list[tuple[int, int, bytes]]] = field(default_factory=dict)

    def fail(self, why: str) -> ScanResult:
        if self.clean:
            self.clean, self.why = False, why
        return self


# -- the tree ---------------------------------------------------------------------------------
def _scan_tree(reader: ScanReader, task: ScanTask, result: ScanResult) -> None:
    """Leaves [a, b) dense, every node of levels 1..TOP inside recomputed and compared."""
    a, b = task.tree
    sha256 = hashlib.sha256
    src = task.source
    rows = reader.stream(
        f"SELECT idx, hash FROM {src.leaves} WHERE log_id = {src.log_id} "
        f"AND idx >= ? AND idx < ? ORDER BY idx", (a, b)
    )
    # Nodes are keyed in creation order (schema v2): those the chunk's leaves complete are one
    # key range, read once; by level they come out in index order.
    node_sql = (
        f"SELECT key, hash FROM {src.nodes} WHERE log_id = {src.log_id} "
        f"AND key >= ? AND key < ? ORDER BY key"
    )
    expected = a
    for start in range(a, b, _CHUNK):
        stop = min(start + _CHUNK, b)
        leaves: list[bytes] = []
        if expected < stop:
            for idx, h in rows:
                if idx != expected:
                    break
                expected += 1
                leaves.append(bytes(h))
                if expected == stop:
                    break
        if expected != stop:
            result.fail(f"leaf index {expected} missing")
            return
        stored_levels: dict[int, list[bytes]] = {lv: [] for lv in range(1, TOP + 1)}
        for key, h in reader.query(node_sql, ((start + 1) << 6, (stop + 1) << 6)):
            if 0 < key & 63 <= TOP:
                stored_levels[key & 63].append(bytes(h))
        # Level by level: level l+1 is level l's hashes hashed two by two.
        level = leaves
        levels: list[list[bytes]] = [leaves]
        for lv in range(1, TOP + 1):
            level = [sha256(b"\x01" + x + y).digest()
                     for x, y in zip(level[::2], level[1::2], strict=False)]
            levels.append(level)
            if not level:
                break
            first = start >> lv
            if stored_levels[lv] != level:
                result.fail(f"stored nodes of level {lv} from index {first} differ")
                return
        if len(levels) > TOP:
            result.top.extend(levels[TOP])
        for size in task.sizes:
            if start < size <= stop:
                result.frontiers[size] = _low_frontier(size, start, levels)


def _low_frontier(size: int, chunk_start: int,
                  levels: list[list[bytes]]) -> list[tuple[int, int, bytes]]:
    """The frontier nodes of a tree of `size` leaves below level TOP, from a chunk's levels
    (those at TOP and above are the parent's, from every worker's level-TOP hashes)."""
    out = []
    begin = size - (size % ALIGN)  # the nodes above TOP cover [0, begin)
    for lv in range(TOP - 1, -1, -1):
        if (size - begin) >> lv & 1:
            idx = begin >> lv
            out.append((lv, idx, levels[lv][idx - (chunk_start >> lv)]))
            begin += 1 << lv
    return out


# -- the entries ------------------------------------------------------------------------------
class _Openings:
    """Sealed openings of the id range, merged with the entries in (case id, case_seq) order."""

    def __init__(self, reader: ScanReader, task: ScanTask, result: ScanResult) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        assert task.master is not None
        self._aesgcm = AESGCM
        self._master = AESGCM(task.master)  # one object for every unwrap, not one per case
        self._result = result
        # The case-number range is inside this log's: other logs' openings are theirs.
        self._rows = reader.stream(
            "SELECT o.case_no, o.case_seq, o.field, o.sealed, k.wrapped FROM vault_openings o "
            "LEFT JOIN vault_keys k ON k.case_no = o.case_no "
            "WHERE o.case_no >= ? AND o.case_no < ? ORDER BY o.case_no, o.case_seq, o.field",
            task.ids,
        )
        self._key_case: int | None = None
        self._key: Any = None
        self.row: tuple[Any, ...] | None = next(self._rows, None)

    def _advance(self) -> None:
        self.row = next(self._rows, None)

    def skip_before(self, case_no: int, seq: int) -> bool:
        """Drop openings that sort before (case_no, seq): erased ones are fine, any other
        has no entry (the exact pass reports it). False once something is wrong."""
        row = self.row
        while row is not None and (row[0] < case_no or (row[0] == case_no and row[1] < seq)):
            if row[4] is not None:
                self._result.fail(f"opening {row[0]}/{row[1]}/{row[2]} has no entry")
                return False
            self._advance()
            row = self.row
        return True

    def skip_entry(self, case_no: int, seq: int) -> None:
        """Drop the openings of an entry outside the verified prefix (appended meanwhile)."""
        while self.row is not None and self.row[0] == case_no and self.row[1] == seq:
            self._advance()

    def check_entry(self, case_no: int, case_id: str, seq: int, entry: dict[str, Any]) -> bool:
        """Check the openings of one entry (case `case_id`, numbered `case_no`); False once
        something is wrong."""
        row = self.row
        if row is None or row[0] != case_no or row[1] != seq:
            return True  # most entries: no opening (or an erased case's, seen later)
        rows, sha256, loads = self._rows, hashlib.sha256, orjson.loads
        ipad, opad, zeros = _IPAD, _OPAD, _ZEROS
        prefix = f"{case_id}/{seq}/"
        count = 0
        try:
            while row is not None and row[0] == case_no and row[1] == seq:
                _, _, name, sealed, wrapped = row
                row = next(rows, None)
                if wrapped is None:
                    continue  # erased (crypto-shredded): the commitment stays, the value is gone
                count += 1
                if self._key_case != case_no:
                    self._key_case = None
                    wrapped = bytes(wrapped)
                    key = self._master.decrypt(wrapped[:12], wrapped[12:],
                                               f"case-key/{case_id}".encode())
                    self._key, self._key_case = self._aesgcm(key), case_no
                plain = self._key.decrypt(sealed[:12], sealed[12:], (prefix + name).encode())
                opening = loads(plain)
                salt = bytes.fromhex(opening["salt"])
                value = opening["value"]
                block = salt + zeros  # hmac_sha256_32, inlined
                if not (len(salt) == 32 and type(value) is str and sha256(
                    block.translate(opad)
                    + sha256(block.translate(ipad) + value.encode("utf-8")).digest()
                ).hexdigest() == entry["personal"][name]):
                    raise ValueError(f"opening {prefix}{name} does not check")
        except Exception as exc:  # any failure at all: the exact pass says which
            self.row = row
            self._result.fail(f"opening {prefix}: {type(exc).__name__}: {exc}")
            return False
        self.row = row
        self._result.openings += count
        return True

    def finish(self) -> None:
        self.skip_before(1 << 62, 0)


def _scan_entries(reader: ScanReader, task: ScanTask, result: ScanResult,
                  progress: Callable[[int], None]) -> None:
    src, size = task.source, task.size
    oid_sql = "uuid_send(e.originator_id)" if reader.pg else "e.originator_id"
    base = src.log_id << ENTRY_BITS
    # The cases of a range of case numbers, each case's events by version (the events'
    # (case_no, originator_version) key), each with the leaf its entry key names.
    rows = reader.stream(
        f"SELECT e.case_no, {oid_sql}, e.originator_version, l.idx, l.hash, e.state "
        f"FROM {src.events} e LEFT JOIN {src.leaves} l ON l.log_id = {src.log_id} "
        f"AND l.idx = e.entry - {base} WHERE e.case_no >= ? AND e.case_no < ? "
        f"ORDER BY e.case_no, e.originator_version",
        task.ids,
    )
    openings = _Openings(reader, task, result) if task.master is not None else None
    aggregate_id = task.aggregate_id
    sha256 = hashlib.sha256
    loads, dumps, sort_keys = orjson.loads, orjson.dumps, orjson.OPT_SORT_KEYS
    fraction, minus, plus = _FRACTION.search, _EXPONENT_MINUS.search, _EXPONENT_PLUS.search
    group: Any = None  # the number of the case being read
    first_oid: Any = None  # its aggregate id, as the driver gives it
    case_hex = tenant0 = case0 = last_hex = ""
    last_idx = last_seq = -1
    beyond = False  # the case's entries reached the leaves appended after `size`
    count = 0
    for case_no, oid, version, idx, leaf, raw in rows:
        if idx is None:
            result.fail(f"event {oid!r} version {version} has no leaf in this log")
            return
        if case_no != group:
            group, first_oid, beyond = case_no, oid, False
            case_hex = oid if type(oid) is str else bytes(oid).hex()
            last_seq, last_idx = 0, -1
            if openings is not None and not openings.skip_before(case_no, version):
                return
        elif oid != first_oid:
            result.fail(f"case number {case_no}: events of two aggregate ids")
            return
        if idx >= size:  # appended while we verify: not part of the verified prefix
            beyond = True
            if openings is not None:
                openings.skip_entry(case_no, version)
            continue
        if beyond:
            result.fail(f"case {case_hex}: version {version} is in the prefix after one that "
                        f"is not")
            return
        if type(raw) is not bytes:
            raw = bytes(raw)
        if sha256(b"\x00" + raw).digest() != leaf:
            result.fail(f"index {idx}: entry does not hash to its leaf")
            return
        # The canonical test of fast_parse, inlined: this loop is what verify spends its
        # time in.
        try:
            obj = loads(raw)
            if not (
                type(obj) is dict
                and dumps(obj, option=sort_keys) == raw
                and not fraction(raw)
                and not minus(raw)
                and not plus(raw)
                and (raw.isascii() or _ascii_keys(obj))
                and len(raw) < _DEEP
            ):
                obj = parse_canonical(raw)
        except (orjson.JSONDecodeError, orjson.JSONEncodeError):
            try:
                obj = parse_canonical(raw)
            except CanonicalError as exc:
                result.fail(f"index {idx}: {exc}")
                return
        except CanonicalError as exc:
            result.fail(f"index {idx}: {exc}")
            return
        try:
            tenant, case, seq, prev = obj["tenant"], obj["case"], obj["case_seq"], obj["prev"]
        except (KeyError, TypeError):
            result.fail(f"index {idx}: not an entry")
            return
        if type(seq) is not int or seq != version or seq != last_seq + 1 or idx <= last_idx:
            result.fail(f"index {idx}: case_seq {seq!r} version {version} out of order")
            return
        if seq == 1:
            if (case_no != base + idx or type(tenant) is not str or type(case) is not str
                    or prev is not None or aggregate_id(tenant, case).hex != case_hex):
                result.fail(f"index {idx}: first entry of its case does not match its id")
                return
            tenant0, case0 = tenant, case
        elif tenant != tenant0 or case != case0 or prev != last_hex:
            result.fail(f"index {idx}: chain broken")
            return
        last_hex, last_idx, last_seq = leaf.hex(), idx, seq
        if openings is not None and not openings.check_entry(case_no, case_hex, seq, obj):
            return
        count += 1
        if not count % _PROGRESS_EVERY:
            progress(_PROGRESS_EVERY)
    if openings is not None:
        openings.finish()
    result.entries = count
    progress(count % _PROGRESS_EVERY)


def scan(task: ScanTask, progress: Callable[[int], None] = lambda n: None) -> ScanResult:
    """Run one worker's share of the fast pass (in this process)."""
    result = ScanResult()
    reader = ScanReader(task.source)
    # Nothing here makes reference cycles; collecting while millions of short-lived objects
    # pass by costs time and frees nothing.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if task.tree[0] < task.tree[1]:
            _scan_tree(reader, task, result)
        if result.clean:
            _scan_entries(reader, task, result, progress)
    finally:
        if was_enabled:
            gc.enable()
        reader.close()
    return result


def _send(out: BinaryIO, message: tuple[str, Any]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(data).to_bytes(8, "little") + data)
    out.flush()


def read_message(stream: BinaryIO) -> tuple[str, Any] | None:
    """One message of a worker (None at end of stream)."""
    head = stream.read(8)
    if len(head) < 8:
        return None
    data = stream.read(int.from_bytes(head, "little"))
    return pickle.loads(data)  # our own child process, over a private pipe


def main() -> int:
    out = sys.stdout.buffer
    task: ScanTask = pickle.loads(sys.stdin.buffer.read())  # from our parent
    try:
        result = scan(task, lambda n: _send(out, ("progress", n)))
    except Exception as exc:  # reported to the parent, which raises it
        # The driver's own words too (the store's sentence leaves them out): the operator
        # running `temoin verify` needs the host or file that failed.
        cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
        _send(out, ("error", f"{type(exc).__name__}: {exc}{cause}"))
        return 1
    _send(out, ("result", result))
    return 0


if __name__ == "__main__":
    # Run as `python -m`, this file is `__main__`: results must be pickled as instances of
    # ledger.audit_scan's classes, which the parent knows, so run that module's main.
    from ledger.audit_scan import main as module_main

    sys.exit(module_main())
