"""`temoin verify BUNDLE.zip [--key VKEY]`: check an evidence bundle offline.

Needs no database, network or configuration: only the ZIP and, ideally, the log's verifier
key obtained from its operator. Exit status: 0 when every check passes (WARN lines, e.g.
folder entries added by `zip -r`, do not fail), 1 when one fails, 2 when the file cannot be
read as a ZIP at all or --key is not a verifier key.
"""

from __future__ import annotations

import sys
from typing import BinaryIO, TextIO

from ledger.signing import CheckpointError, Verifier
from projections.bundle_verify import BundleReport, verify_bundle

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


def main(path: str, *, key: str | None = None) -> int:
    out = _stdout()
    if key is not None:
        try:
            Verifier.parse(key.strip())
        except CheckpointError as exc:
            print(f"temoin verify: --key is not a verifier key: {exc}", file=sys.stderr)
            return EXIT_UNUSABLE
    bundle = _open(path)
    if bundle is None:
        return EXIT_UNUSABLE
    with bundle:  # read in chunks as it is checked: a bundle of any size needs little memory
        report = verify_bundle(bundle, trusted_key=key)
    for check in report.checks:
        print(check, file=out)
    print(verdict(report), file=out)
    if report.checks and report.checks[0].place == "bundle" and len(report.checks) == 1:
        return EXIT_UNUSABLE  # not a ZIP at all: nothing was verified
    return EXIT_OK if report.ok else EXIT_FAILED


def verdict(report: BundleReport) -> str:
    """The last line: what a passing bundle proves, or how many checks failed."""
    failures = len(report.failures)
    if not report.ok:
        return (f"VERDICT: FAILED — {failures} check{'s' if failures != 1 else ''} failed; "
                "do not rely on this bundle (see the KO lines above)")
    what = (
        f"{report.entries} entries of case {report.case} (tenant {report.tenant}) are in the "
        f"log {report.log} at its checkpoint of size {report.checkpoint_size}; "
        f"{report.evidence_files} evidence files and {report.openings} openings match"
    )
    warned = len(report.warnings)
    if warned:
        what += (f" ({warned} WARN line{'s' if warned != 1 else ''} above: ZIP changes that "
                 "touch no file)")
    if report.trusted_key is not None:
        return f"VERDICT: the bundle is intact and signed by the key you trust: {what}"
    return (
        f"VERDICT: the bundle is intact and self-consistent: {what}. It was signed by "
        f"{report.signer_key}, which was NOT compared with a trusted key: run again with "
        "--key '<the log's verifier key, from its operator>' to prove who signed it"
    )


def _open(path: str) -> BinaryIO | None:
    try:
        return open(path, "rb")  # the caller closes it
    except IsADirectoryError:
        print(f"temoin verify: {path} is a folder; give the bundle's .zip file, as received "
              f"or zipped again from the unzipped folder (cd {path} && zip -r ../bundle.zip .)",
              file=sys.stderr)
    except OSError as exc:
        print(f"temoin verify: cannot read {path}: {exc.strerror or exc}; check the path "
              "and that you may read the file", file=sys.stderr)
    return None


def _stdout() -> TextIO:
    # A lawyer's terminal may not be UTF-8: degrade characters, never crash mid-report.
    out = sys.stdout
    reconfigure = getattr(out, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")
    return out


if __name__ == "__main__":
    if len(sys.argv) not in (2, 4) or (len(sys.argv) == 4 and sys.argv[2] != "--key"):
        print("usage: python -m scripts.verify_bundle BUNDLE.zip [--key VKEY]", file=sys.stderr)
        sys.exit(EXIT_UNUSABLE)
    sys.exit(main(sys.argv[1], key=sys.argv[3] if len(sys.argv) == 4 else None))
