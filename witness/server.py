"""The witness's HTTP interface: `POST /add-checkpoint` (C2SP tlog-witness) and `GET /healthz`.

Statuses, as the spec lists them: 404 unknown origin, 403 no signature by the log's trusted key,
400 malformed body or old size > checkpoint size, 409 `text/x.tlog.size` (body: our size) when
`old` is not the size we last cosigned, 409 same size with another root, 422 consistency proof
that does not verify, 413 body over the cap; 200 with our cosignature line. Errors other than
the size conflict are RFC 9457 problem+json.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ledger.checkpoint import Checkpoint, CheckpointError
from ledger.cosignature import MalformedRequestError, WitnessKey, parse_add_checkpoint
from ledger.signing import MAX_NOTE_SIZE, UnknownKeyError, Verifier, _parse_note
from witness.state import KEY_NAME, Refusal, UnknownLogError, WitnessState

log = logging.getLogger("temoin.witness")

# A checkpoint note is ~300 bytes and 63 proof lines ~3 KiB; 64 KiB leaves room for notes with
# many signatures and refuses anything that could cost us memory.
MAX_BODY = 64 * 1024
SIZE_MEDIA_TYPE = "text/x.tlog.size"


def _problem(status: int, detail: str) -> Response:
    titles = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
              411: "Length Required", 413: "Content Too Large", 415: "Unsupported Media Type",
              422: "Unprocessable Content"}
    body = {"type": "about:blank", "title": titles.get(status, "Error"), "status": status,
            "detail": detail}
    return Response(json.dumps(body), status, media_type="application/problem+json")


async def _read_capped(request: Request, cap: int) -> bytes | None:
    """The body, or None once it exceeds `cap` (read no further: a huge body costs nothing)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        return None
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class Witness:
    def __init__(self, data_dir: Path) -> None:
        self.state = WitnessState(data_dir)
        self.key = WitnessKey.load(data_dir / KEY_NAME)

    def add_checkpoint(self, body: bytes) -> Response:
        """One add-checkpoint request, synchronously (in a worker thread)."""
        try:
            request = parse_add_checkpoint(body)
        except MalformedRequestError as exc:
            return _problem(400, str(exc))
        # Framing first (400), then the origin (404), then the log's signature (403).
        try:
            text, _ = _parse_note(request.note)
            origin = Checkpoint.parse_body(text).origin
        except CheckpointError as exc:
            return _problem(400, f"the checkpoint is not a well-formed signed note: {exc}")
        try:
            verifier: Verifier = self.state.verifier(origin)
        except UnknownLogError:
            return _problem(404, f"unknown log origin {origin[:200]!r}: this witness cosigns "
                                 "only logs added with `temoin witness add-log`")
        try:
            note_body = verifier.verify_note(request.note)
        except UnknownKeyError as exc:
            return _problem(403, f"no signature by the log key this witness trusts: {exc}")
        except CheckpointError as exc:  # a line by the trusted key that does not verify
            return _problem(403, f"the checkpoint's signature does not verify: {exc}")
        checkpoint = Checkpoint.parse_body(note_body)
        try:
            self.state.advance(checkpoint, request.old_size, request.proof)
        except UnknownLogError:
            return _problem(404, f"unknown log origin {checkpoint.origin!r}")
        except Refusal as refusal:
            log.info("refused %s size %d (old %d): %s", checkpoint.origin, checkpoint.size,
                     request.old_size, refusal)
            if refusal.status == 409 and refusal.size is not None:
                # Exactly the spec's media type: Starlette would add "; charset=utf-8".
                return Response(f"{refusal.size}\n", 409,
                                headers={"Content-Type": SIZE_MEDIA_TYPE})
            return _problem(refusal.status, str(refusal))
        # Committed: only now is the cosignature made and sent.
        line = self.key.cosign(note_body, int(time.time()))
        return Response(line, 200, media_type="text/plain; charset=utf-8")


def create_witness_app(data_dir: Path) -> Starlette:
    witness = Witness(data_dir)

    async def add_checkpoint(request: Request) -> Response:
        body = await _read_capped(request, MAX_BODY)
        if body is None:
            return _problem(413, f"request body: expected at most {MAX_BODY} bytes; an "
                                 "add-checkpoint body is a few KiB at most")
        return await to_thread.run_sync(witness.add_checkpoint, body)

    async def healthz(request: Request) -> Response:
        logs = await to_thread.run_sync(witness.state.logs)
        body = {"status": "ok", "witness_key": witness.key.verifier_key,
                "logs": [{"origin": s.origin, "size": s.size} for s in logs]}
        return Response(json.dumps(body), 200, media_type="application/json")

    assert MAX_BODY < MAX_NOTE_SIZE
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            witness.state.close()

    app = Starlette(routes=[
        Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ], lifespan=lifespan)
    app.state.witness = witness
    return app
