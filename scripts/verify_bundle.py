"""`temoin verify BUNDLE.zip [--key VKEY] [--tsa-roots PEM] [--witness VKEY ...] [--quorum N]`:
check an evidence bundle offline.

Needs no database, network or configuration: only the ZIP and, ideally, the log's verifier
key, the TSAs' root certificates and the witnesses' keys, all obtained from their owners.
Exit status: 0 when every check passes (WARN lines, e.g. folder entries added by `zip -r`, do
not fail), 1 when one fails (a token that the roots do not validate, a quorum not met), 2 when
the file cannot be read as a ZIP at all or an option is unusable (--key or --witness not a
key, --tsa-roots not PEM, --quorum negative, --lang unknown).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

from ledger.cosignature import CosignatureVerifier
from ledger.signing import CheckpointError, Verifier
from ledger.timestamps import load_roots
from projections.i18n import Translator, UnsupportedLanguageError, cli_language, translator
from verifier.bundle import BundleReport, TrustOptions, verify_bundle

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


def main(path: str, *, key: str | None = None, lang: str | None = None,
         tsa_roots: str | None = None, witnesses: Sequence[str] = (),
         quorum: int | None = None) -> int:
    out = _stdout()
    try:
        tr = translator(cli_language(lang))
    except UnsupportedLanguageError as exc:
        print(f"temoin verify: {exc}; or set TEMOIN_LANG", file=sys.stderr)
        return EXIT_UNUSABLE
    if key is not None:
        try:
            Verifier.parse(key.strip())
        except CheckpointError as exc:
            print(f"temoin verify: --key is not a verifier key: {exc}", file=sys.stderr)
            return EXIT_UNUSABLE
    trust = trust_options(tsa_roots, witnesses, quorum)
    if isinstance(trust, str):
        print(f"temoin verify: {trust}", file=sys.stderr)
        return EXIT_UNUSABLE
    bundle = _open(path)
    if bundle is None:
        return EXIT_UNUSABLE
    with bundle:  # read in chunks as it is checked: a bundle of any size needs little memory
        report = verify_bundle(bundle, trusted_key=key, trust=trust)
    for check in report.checks:
        print(check, file=out)
    print(verdict(report, tr), file=out)
    if report.checks and report.checks[0].place == "bundle" and len(report.checks) == 1:
        return EXIT_UNUSABLE  # not a ZIP at all: nothing was verified
    return EXIT_OK if report.ok else EXIT_FAILED


def trust_options(tsa_roots: str | None, witnesses: Sequence[str],
                  quorum: int | None) -> TrustOptions | str:
    """The options as checked TrustOptions, or what is wrong with them (exit 2)."""
    roots = None
    if tsa_roots is not None:
        try:
            roots = Path(tsa_roots).read_bytes()
        except OSError as exc:
            return (f"--tsa-roots: cannot read {tsa_roots}: {exc.strerror or exc}; give the "
                    "PEM file of the TSA's root certificate")
        try:
            load_roots(roots)
        except ValueError as exc:
            return (f"--tsa-roots: {tsa_roots} must hold PEM certificates (-----BEGIN "
                    f"CERTIFICATE-----), got none usable: {exc}")
    for i, vkey in enumerate(witnesses, 1):
        try:
            CosignatureVerifier.parse(vkey.strip())
        except CheckpointError as exc:
            return (f"--witness #{i} is not a witness verifier key "
                    f"(<name>+<8 hex>+<base64>): {exc}")
    if quorum is not None and quorum < 0:
        return f"--quorum must be an integer >= 0, got {quorum}"
    return TrustOptions(roots, tuple(w.strip() for w in witnesses), quorum)


def verdict(report: BundleReport, tr: Translator | None = None) -> str:
    """The last line: what a passing bundle proves, or how many checks failed."""
    tr = tr or translator()
    failures = len(report.failures)
    if not report.ok:
        return tr.tn("VERDICT: FAILED — {n} check failed; do not rely on this bundle (see the "
                     "KO lines above)",
                     "VERDICT: FAILED — {n} checks failed; do not rely on this bundle (see the "
                     "KO lines above)", failures).format(n=failures)
    what = tr.t(
        "{entries} entries of case {case} (tenant {tenant}) are in the log {log} at its "
        "checkpoint of size {size}; {evidence} evidence files and {openings} openings match"
    ).format(entries=report.entries, case=report.case, tenant=report.tenant, log=report.log,
             size=report.checkpoint_size, evidence=report.evidence_files,
             openings=report.openings)
    warned = len(report.warnings)
    if warned:
        what += " " + tr.tn("({n} WARN line above: a ZIP change that touches no file)",
                            "({n} WARN lines above: ZIP changes that touch no file)",
                            warned).format(n=warned)
    # What the trust anchors say (RFC 3161 times, witness quorum), in English for now.
    trust = " ".join(report.trust.sentences())
    trust = f" {trust}" if trust else ""
    if report.trusted_key is not None:
        return tr.t("VERDICT: the bundle is intact and signed by the key you trust: "
                    "{what}").format(what=what) + "." + trust
    return tr.t(
        "VERDICT: the bundle is intact and self-consistent: {what}. It was signed by {key}, "
        "which was NOT compared with a trusted key: run again with --key '<the log's "
        "verifier key, from its operator>' to prove who signed it"
    ).format(what=what, key=report.signer_key) + "." + trust


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
