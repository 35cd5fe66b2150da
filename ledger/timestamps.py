"""RFC 3161 time-stamps over signed checkpoints: the request and the check of a reply (issue 11).

A time-stamp token says that a TSA saw a SHA-256 digest no later than its `genTime`. Témoin asks
for one over the whole signed checkpoint note exactly as stored (text and signature lines), so
that the token binds the checkpoint's size, root hash and signature, not a re-encoding of them.

Pure functions, no network, no database: the service that talks to TSAs (api/timestamper.py),
the bundle builder and the offline verifier all use them. The ASN.1 is rfc3161-client's (the
library sigstore-python uses), never ours. Stored tokens are whole DER `TimeStampResp`
messages, which is what `openssl ts -verify -in` reads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from ledger import errors as tree

SHA256_OID = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
QUERY_MEDIA_TYPE = "application/timestamp-query"
REPLY_MEDIA_TYPE = "application/timestamp-reply"


class TimestampError(tree.VerificationError, ValueError):
    """A time-stamp reply that must not be kept; `got` and `want` say what differed."""

    def __init__(self, reason: str, *, got: str = "", want: str = "") -> None:
        self.reason, self.got, self.want = reason, got, want
        detail = f": got {got}, want {want}" if got or want else ""
        super().__init__(reason + detail)


@dataclass(frozen=True, slots=True)
class TimestampInfo:
    time: datetime  # the TSA's genTime (UTC): the note existed no later than this
    tsa_subject: str  # RFC 4514 subject of the certificate that signed the token
    serial: int  # the token's serial number at that TSA


def note_digest(note: bytes) -> bytes:
    return hashlib.sha256(note).digest()


def build_request(note: bytes) -> tuple[bytes, int]:
    """A DER TimeStampReq over SHA-256 of `note`, with a random nonce and certReq set (so the
    reply carries the signer's certificate and can be checked offline); returns (der, nonce)."""
    if not note:
        raise ValueError("cannot time-stamp an empty note")
    request = (
        TimestampRequestBuilder().data(note).hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True).cert_request(cert_request=True).build()
    )
    nonce = request.nonce
    assert nonce is not None  # asked for above
    return request.as_bytes(), nonce


def load_roots(pem: bytes) -> list[x509.Certificate]:
    """The trust anchors of a PEM file; at least one certificate or ValueError."""
    try:
        roots = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise ValueError(f"no PEM certificate could be read: {exc}") from None
    if not roots:
        raise ValueError("no PEM certificate found")
    return roots


def _decode(der: bytes) -> TimeStampResponse:
    try:
        return decode_timestamp_response(der)
    except Exception as exc:  # the Rust parser raises ValueError or its own errors
        raise TimestampError(
            "not a DER TimeStampResp", got=f"{len(der)} bytes starting {der[:8].hex()}",
            want="a TimeStampResp (RFC 3161 §2.4.2)",
        ) from exc


def _signer_subject(response: TimeStampResponse) -> str:
    infos = list(response.signed_data.signer_infos)
    if len(infos) != 1:
        raise TimestampError("wrong number of signers", got=str(len(infos)), want="1")
    for der in response.signed_data.certificates:
        cert = x509.load_der_x509_certificate(der)
        if cert.issuer == infos[0].issuer and cert.serial_number == infos[0].serial_number:
            return cert.subject.rfc4514_string()
    raise TimestampError(
        "the token does not carry its signer's certificate",
        got=f"{len(response.signed_data.certificates)} certificates, none matching the signer",
        want="the signing certificate (request with certReq)",
    )


def verify_token(
    der: bytes, note: bytes, roots_pem: bytes | None, nonce: int | None = None
) -> TimestampInfo:
    """Check a DER TimeStampResp over the signed note `note`; offline, with only these inputs.

    Checked: status granted; message imprint = SHA-256 of `note`; the nonce, when the request's
    is known; with `roots_pem`, the CMS signature, the signer's critical timeStamping key usage
    and its chain to one of those roots at genTime. Without roots only the content is checked:
    who signed it is then unknown. Raises TimestampError naming what differed.
    """
    response = _decode(der)
    if PKIStatus(response.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        text = "; ".join(response.status_string) or "no status text"
        raise TimestampError(
            "the TSA did not grant the time-stamp",
            got=f"status {response.status} ({text})", want="0 (granted)",
        )
    tst = response.tst_info
    imprint = tst.message_imprint
    if imprint.hash_algorithm != SHA256_OID:
        raise TimestampError(
            "the token's digest algorithm is not SHA-256",
            got=imprint.hash_algorithm.dotted_string, want=SHA256_OID.dotted_string,
        )
    want = note_digest(note)
    if imprint.message != want:
        raise TimestampError(
            "the token is over another digest than this checkpoint's",
            got=imprint.message.hex(), want=want.hex(),
        )
    if nonce is not None and tst.nonce != nonce:
        raise TimestampError("the token's nonce is not the request's",
                             got=str(tst.nonce), want=str(nonce))
    subject = _signer_subject(response)
    if roots_pem is not None:
        try:
            roots = load_roots(roots_pem)
        except ValueError as exc:
            raise TimestampError(f"the trust anchors are unusable: {exc}") from None
        verifier = VerifierBuilder(roots=roots).build()
        try:
            verifier.verify(response, want)
        except VerificationError as exc:
            raise TimestampError(
                "the token's signature does not chain to the trusted roots",
                got=f"{subject}: {exc}",
                want="a signer certified by " + ", ".join(
                    r.subject.rfc4514_string() for r in roots),
            ) from None
    gen_time = tst.gen_time
    if gen_time.tzinfo is None:
        gen_time = gen_time.replace(tzinfo=UTC)
    return TimestampInfo(gen_time.astimezone(UTC), subject, tst.serial_number)
