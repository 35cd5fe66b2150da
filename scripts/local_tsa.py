"""A throwaway RFC 3161 Time-Stamp Authority on 127.0.0.1, for tests and the benchmark.

    python scripts/local_tsa.py --dir /tmp/tsa [--port 0] [--mode ok]

At start it makes, in `--dir`, a root CA and a TSA certificate under it (ECDSA P-256: OpenSSL
3.0 cannot sign time-stamps with Ed25519; the timeStamping extended key usage is marked
critical, as RFC 3161 §2.3 asks and rfc3161-client checks), a second, untrusted CA with its own
TSA certificate, and the `openssl ts` configuration. It then answers
`application/timestamp-query` POSTs on `/` with `openssl ts -reply` (the real tool, not our
code) and prints one JSON line: `{"url": ..., "roots": <PEM of the trusted root>, "dir": ...}`
(also written to `<dir>/info.json`).

Its behaviour is switched at run time by `POST /admin/mode` with one of these words as the
body (or `--mode` at start), so that a test can take a TSA down and bring it back:

- `ok`: a genuine reply;
- `down`: 503 for every request (a TSA that is unavailable);
- `garbage`: 200 with bytes that are no TimeStampResp;
- `wrong-digest`: a genuine reply, signed, but over another digest than the one asked for;
- `untrusted`: a genuine reply signed by the TSA of the other CA (not in the roots PEM).

`GET /admin/stats` returns `{"mode": ..., "requests": {mode: count}}`.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from rfc3161_client import _rust as rfc3161_rust

MODES = ("ok", "down", "garbage", "wrong-digest", "untrusted")
QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
# The policy OID the throwaway TSA stamps under (an arbitrary private arc).
POLICY = "1.3.6.1.4.1.99999.1"

CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {dir}
serial = $dir/serial-{name}
signer_cert = $dir/{name}-tsa.pem
signer_key = $dir/{name}-tsa.key
signer_digest = sha256
default_policy = {policy}
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
clock_precision_digits = 3
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Temoin test TSA"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    path.chmod(0o600)


def make_ca(folder: Path, name: str) -> Path:
    """A root CA and a TSA certificate under it; returns the root's PEM path."""
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=30)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{name} root CA")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name).issuer_name(root_name)
        .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()),
                       critical=False)
        .sign(root_key, hashes.SHA256())
    )
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{name} TSA")).issuer_name(root_name)
        .public_key(tsa_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        # RFC 3161 §2.3: the TSA's certificate MUST have this one purpose, marked critical.
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                       critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    root_pem = folder / f"{name}-root.pem"
    root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}-tsa.pem").write_bytes(tsa.public_bytes(serialization.Encoding.PEM))
    _write_key(folder / f"{name}-tsa.key", tsa_key)
    (folder / f"serial-{name}").write_text("01\n")
    # No `certs =` line: openssl would add the chain as an unsorted SET, which rfc3161-client
    # refuses; the signer's own certificate is included when the request asks (certReq).
    (folder / f"{name}.cnf").write_text(CONFIG.format(dir=folder, name=name, policy=POLICY))
    return root_pem


def _reply(folder: Path, name: str, query: bytes) -> bytes:
    with tempfile.TemporaryDirectory(dir=folder) as work:
        q, out = Path(work) / "query.tsq", Path(work) / "reply.tsr"
        q.write_bytes(query)
        done = subprocess.run(
            ["openssl", "ts", "-reply", "-config", str(folder / f"{name}.cnf"),
             "-queryfile", str(q), "-out", str(out)],
            capture_output=True, timeout=30,
        )
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(done.stderr.decode(errors="replace"))
        return out.read_bytes()


def _other_digest(query: bytes) -> bytes:
    """The same query over another SHA-256 digest (same length, so the DER stays valid)."""
    digest = rfc3161_rust.parse_timestamp_request(query).message_imprint.message
    return query.replace(digest, hashlib.sha256(b"not the checkpoint" + digest).digest(), 1)


class LocalTsa:
    def __init__(self, folder: Path, mode: str = "ok") -> None:
        self.folder = folder
        self.roots = make_ca(folder, "trusted")
        make_ca(folder, "untrusted")
        self.mode = mode
        self.requests: Counter[str] = Counter()
        # `openssl ts -reply` increments a serial file: one reply at a time per CA.
        self.lock = threading.Lock()

    def answer(self, query: bytes) -> tuple[int, str, bytes]:
        mode = self.mode
        self.requests[mode] += 1
        if mode == "down":
            return 503, "text/plain", b"the TSA is down (local_tsa mode 'down')\n"
        if mode == "garbage":
            return 200, REPLY_TYPE, b"\x30\x03\x02\x01\x07 this is no TimeStampResp"
        name = "untrusted" if mode == "untrusted" else "trusted"
        if mode == "wrong-digest":
            query = _other_digest(query)
        with self.lock:
            try:
                return 200, REPLY_TYPE, _reply(self.folder, name, query)
            except RuntimeError as exc:
                return 400, "text/plain", f"openssl ts -reply failed: {exc}\n".encode()


def _handler(tsa: LocalTsa) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet under tests
            pass

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self) -> None:
            if self.path == "/admin/stats":
                body = json.dumps({"mode": tsa.mode, "requests": dict(tsa.requests)}).encode()
                self._send(200, "application/json", body)
            else:
                self._send(404, "text/plain", b"not found\n")

        def do_POST(self) -> None:
            body = self._body()
            if self.path == "/admin/mode":
                mode = body.decode(errors="replace").strip()
                if mode not in MODES:
                    self._send(422, "text/plain", f"mode must be one of {MODES}\n".encode())
                    return
                tsa.mode = mode
                self._send(200, "text/plain", f"{mode}\n".encode())
                return
            if self.headers.get("Content-Type") != QUERY_TYPE:
                self._send(415, "text/plain", f"Content-Type must be {QUERY_TYPE}\n".encode())
                return
            self._send(*tsa.answer(body))

    return Handler


@dataclass
class Running:
    """A local TSA in a child process (see `running`)."""

    process: subprocess.Popen[str]
    url: str
    roots: Path
    dir: Path

    def mode(self, mode: str) -> None:
        """Switch what it answers: one of MODES."""
        post = urllib.request.Request(self.url + "admin/mode", data=mode.encode(), method="POST")
        with urllib.request.urlopen(post, timeout=5) as answer:
            answer.read()

    def requests(self) -> dict[str, int]:
        """How many time-stamp requests it received, by the mode it was in."""
        with urllib.request.urlopen(self.url + "admin/stats", timeout=5) as answer:
            return {k: int(v) for k, v in json.loads(answer.read())["requests"].items()}


@contextmanager
def running(folder: Path, mode: str = "ok") -> Iterator[Running]:
    """Start this script in a child process on a free port; stop it on exit."""
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--dir", str(folder), "--mode", mode],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        try:
            info = json.loads(line)
        except json.JSONDecodeError:
            output = line + process.stdout.read()
            raise RuntimeError(f"local_tsa.py did not start: {output}") from None
        yield Running(process, info["url"], Path(info["roots"]), Path(info["dir"]))
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="folder for the CA and config")
    parser.add_argument("--port", type=int, default=0, help="default: any free port")
    parser.add_argument("--mode", choices=MODES, default="ok")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    tsa = LocalTsa(args.dir.resolve(), args.mode)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(tsa))
    info = {"url": f"http://127.0.0.1:{server.server_address[1]}/", "roots": str(tsa.roots),
            "dir": str(tsa.folder)}
    (tsa.folder / "info.json").write_text(json.dumps(info))
    print(json.dumps(info), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
