"""The names of `temoin.bundle/v1` and `v1.1` (docs/BUNDLE.md), shared by the builder
(projections/bundle.py) and the offline verifier (verifier/): member names, the patterns of
numbered members, and the text the manifest signature covers. Pure: no database, no I/O.
"""

from __future__ import annotations

import hashlib
import re

BUNDLE_FORMAT = "temoin.bundle/v1"
BUNDLE_FORMAT_V1_1 = "temoin.bundle/v1.1"

MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"
CHECKPOINT = "checkpoint.txt"
LOG_KEY = "log-key.txt"
HOW_TO = "HOW-TO-VERIFY.txt"
TIMELINE_PDF = "timeline.pdf"
REPORT_PDF = "report.pdf"
REPORT_JSON = "report.json"
# Members every v1 bundle has besides the manifest and its signature.
FIXED_MEMBERS = (CHECKPOINT, LOG_KEY, HOW_TO, TIMELINE_PDF, REPORT_PDF, REPORT_JSON)
# v1.1: the checkpoint with its witness cosignatures, and the TSAs' tokens over it.
COSIGNED = "checkpoint.cosigned.txt"

ENTRY_PATH = re.compile(r"entries/(0|[1-9][0-9]{0,19})\.json")
PROOF_PATH = re.compile(r"proofs/(0|[1-9][0-9]{0,19})\.json")
OPENING_PATH = re.compile(r"openings/(0|[1-9][0-9]{0,19})\.json")
EVIDENCE_PATH = re.compile(r"evidence/([0-9a-f]{64})")
TIMESTAMP_PATH = re.compile(r"timestamps/(0|[1-9][0-9]{0,19})-([1-9][0-9]{0,3})\.tsr")


def manifest_sig_body(manifest: bytes) -> bytes:
    """The text the log key signs for a manifest: the format, then its SHA-256 in hex."""
    return f"{BUNDLE_FORMAT}\n{hashlib.sha256(manifest).hexdigest()}\n".encode()
