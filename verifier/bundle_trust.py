"""Offline checks of a v1.1 bundle's RFC 3161 tokens and witness cosignatures (issue 11 item 5).

Pure, like the rest of the verifier: the bundle's members, the TSA roots and witness keys the
reader obtained elsewhere, and nothing else. Each check is a line of the BundleReport; what
they establish is summed up in `TrustSummary.sentences()`, in words a lawyer can quote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ledger.bundle_format import COSIGNED, TIMESTAMP_PATH
from ledger.checkpoint import Checkpoint, CheckpointError
from ledger.cosignature import CosignatureError, CosignatureVerifier, parse_cosignature_line
from ledger.timestamps import TimestampError, TimestampInfo, verify_token

if TYPE_CHECKING:
    from verifier.bundle import BundleReport

__all__ = ["TrustOptions", "TrustSummary", "check_trust"]

CHECKPOINT = "checkpoint.txt"


@dataclass(frozen=True, slots=True)
class TrustOptions:
    """What the reader trusts: TSA root certificates (PEM), witness verifier keys, and how
    many of those witnesses must have cosigned (None: all of them, when any are given)."""

    tsa_roots: bytes | None = None
    witnesses: tuple[str, ...] = ()
    quorum: int | None = None


@dataclass(frozen=True, slots=True)
class TimeClaim:
    path: str
    tsa: str  # the URL the manifest says the token came from
    info: TimestampInfo
    roots_checked: bool  # False: content only (no --tsa-roots)


@dataclass
class TrustSummary:
    times: list[TimeClaim] = field(default_factory=list)
    cosigned: list[tuple[str, int]] = field(default_factory=list)  # (witness, time) verified
    unchecked_cosigners: list[str] = field(default_factory=list)  # lines with no key given
    witnesses_given: int = 0

    def sentences(self) -> list[str]:
        """What the tokens and cosignatures prove, one sentence each (for the verdict)."""
        out = []
        for t in self.times:
            when = _iso(t.info.time)
            if t.roots_checked:
                out.append(f"Trusted time: this checkpoint existed no later than {when}, "
                           f"according to {t.info.tsa_subject} ({t.path}).")
            else:
                out.append(f"Time-stamp {t.path} checked for content only: it says this "
                           f"checkpoint existed no later than {when}, signed by "
                           f"{t.info.tsa_subject}, but who signed it was NOT checked (give "
                           "--tsa-roots with the TSA's root certificate).")
        if not self.times:
            out.append("No trusted time: the bundle carries no RFC 3161 time-stamp token, so "
                       "the checkpoint's date is only the log's own claim.")
        if self.witnesses_given:
            who = ", ".join(f"{name} at {_iso(_moment(t))}" for name, t in self.cosigned)
            out.append(f"Witnesses: cosigned by {len(self.cosigned)} of the "
                       f"{self.witnesses_given} witnesses you gave"
                       + (f" ({who})." if who else "."))
        elif self.unchecked_cosigners:
            out.append(f"Witnesses: {len(self.unchecked_cosigners)} cosignatures in {COSIGNED} "
                       f"({', '.join(self.unchecked_cosigners)}), NOT checked (give --witness "
                       "'<witness key>' for each witness you trust).")
        else:
            out.append("No witness: the bundle carries no witness cosignature.")
        return out


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(min(seconds, 253402300799), UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_trust(
    r: BundleReport,
    members: Mapping[str, bytes],
    timestamps: Mapping[str, str],
    checkpoint: Checkpoint | None,
    options: TrustOptions,
) -> None:
    """Check every listed token and every given witness's cosignature; record each."""
    summary = r.trust
    summary.witnesses_given = len(options.witnesses)
    note = members.get(CHECKPOINT)
    for name in sorted(n for n in members if TIMESTAMP_PATH.fullmatch(n)):
        if name not in timestamps:
            r.failed(name, "is listed in the manifest's timestamps",
                     "a token the manifest does not attribute to a TSA: do not rely on it")
    for path, url in timestamps.items():
        _token(r, members.get(path), path, url, note, checkpoint, options)
    _cosignatures(r, members.get(COSIGNED), note, checkpoint, options)


def _token(r: BundleReport, der: bytes | None, path: str, url: str, note: bytes | None,
           checkpoint: Checkpoint | None, options: TrustOptions) -> None:
    name = "RFC 3161 time-stamp token over checkpoint.txt"
    if options.tsa_roots is not None:
        name += ", signed by a TSA certified by --tsa-roots"
    if der is None:
        r.failed(path, name, "missing from the ZIP or unusable (see above)")
        return
    if note is None or checkpoint is None:
        r.failed(path, name, "not checked: checkpoint.txt is missing or did not verify")
        return
    match = TIMESTAMP_PATH.fullmatch(path)
    size = int(match.group(1)) if match else -1
    if size != checkpoint.size:
        r.failed(path, name, f"named for checkpoint size {size}, but checkpoint.txt has size "
                 f"{checkpoint.size}")
        return
    try:
        info = verify_token(der, note, options.tsa_roots)
    except TimestampError as exc:
        r.failed(path, name, f"{exc} (token from {url}): do not rely on this token")
        return
    checked = options.tsa_roots is not None
    r.trust.times.append(TimeClaim(path, url, info, checked))
    how = ("signature and certificate chain checked against --tsa-roots" if checked else
           "checked for content only (imprint = SHA-256 of checkpoint.txt); who signed it was "
           "NOT checked: give --tsa-roots")
    r.passed(path, name, f"this checkpoint existed no later than {_iso(info.time)}, according "
             f"to {info.tsa_subject} (serial {info.serial}, from {url}); {how}")


def _cosignatures(r: BundleReport, cosigned: bytes | None, note: bytes | None,
                  checkpoint: Checkpoint | None, options: TrustOptions) -> None:
    lines: list[tuple[str, bytes, str]] = []  # (witness name, key id, line)
    if cosigned is not None:
        lines = _lines(r, cosigned, note)
    summary = r.trust
    if not options.witnesses:
        summary.unchecked_cosigners = [name for name, _, _ in lines]
        if lines:
            r.passed(COSIGNED, f"carries {len(lines)} witness cosignature(s)",
                     f"by {', '.join(summary.unchecked_cosigners)}; not checked: give "
                     "--witness '<witness key>' to check them")
    missing = []
    for vkey in options.witnesses:
        try:
            witness = CosignatureVerifier.parse(vkey.strip())
        except CheckpointError as exc:
            r.failed("--witness", "is a witness verifier key", str(exc))
            continue
        place = f"witness {witness.name}"
        mine = [line for name, key_id, line in lines
                if name == witness.name and key_id == witness.key_id]
        if not mine:
            missing.append(f"{witness.name} (no cosignature in the bundle)")
            continue
        if checkpoint is None:
            r.failed(place, "cosigned checkpoint.txt", "not checked: checkpoint.txt is "
                     "missing or did not verify")
            missing.append(witness.name)
            continue
        try:
            when = witness.verify(mine[0], checkpoint.to_body())
        except CosignatureError as exc:
            r.failed(place, "cosigned checkpoint.txt (C2SP cosignature/v1)",
                     f"{exc}; in {COSIGNED}")
            missing.append(f"{witness.name} (invalid cosignature)")
            continue
        summary.cosigned.append((witness.name, when))
        r.passed(place, "cosigned checkpoint.txt (C2SP cosignature/v1)",
                 f"at {_iso(_moment(when))}, with the key you gave")
    need = options.quorum if options.quorum is not None else (
        len(options.witnesses) if options.witnesses else None)
    if need is None:
        return
    got, given = len(summary.cosigned), len(options.witnesses)
    r.check(
        "--quorum", f"at least {need} of the {given} witnesses you gave cosigned the checkpoint",
        None if got >= need else (
            f"cosigned by {got} of the {given} witnesses you gave, {need} required"
            + (f"; missing: {', '.join(missing)}" if missing else "")
        ),
        f"cosigned by {got} of the {given} witnesses you gave",
    )


def _lines(r: BundleReport, cosigned: bytes, note: bytes | None) -> list[tuple[str, bytes, str]]:
    """The cosignature lines after checkpoint.txt's bytes, or [] with a KO."""
    if note is None or not cosigned.startswith(note):
        r.failed(COSIGNED, "begins with checkpoint.txt byte for byte",
                 "it does not: it is not a cosigned copy of this bundle's checkpoint")
        return []
    try:
        rest = cosigned[len(note):].decode("utf-8")
    except UnicodeDecodeError:
        r.failed(COSIGNED, "holds cosignature lines after the checkpoint", "not UTF-8")
        return []
    found = []
    for i, line in enumerate(rest.splitlines(keepends=True), 1):
        try:
            if not line.endswith("\n"):
                raise CosignatureError("the last line has no final newline")
            name, key_id, _, _ = parse_cosignature_line(line)
        except CosignatureError as exc:
            r.failed(COSIGNED, "holds cosignature lines after the checkpoint",
                     f"extra line {i}: {exc}")
            return []
        found.append((name, key_id, line))
    return found
