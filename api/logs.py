"""Which log serves the caller: the log of its API key's tenant (issue 14 "Many logs").

A database may hold several logs (ledger/logs.py); each tenant writes to and reads from exactly
one. Every route that serves a tenant takes that log from `TenantLog` (its Ledger, access
journal, sequencer and checkpointer, api/log_services.py), or its store through one of the
Protocols below, so that nothing of a tenant is ever appended to, or read from, another log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from api.auth import CurrentKey
from api.deps import ServicesDep
from api.log_services import LogServices
from ledger.store.protocols import AttestationReader, EvidenceReader, LogReader, ProjectionSource


async def tenant_log(key: CurrentKey, services: ServicesDep) -> LogServices:
    # async: a known tenant's started log is two dict reads, no thread hop.
    return await services.logs.of_tenant(key.tenant)


TenantLog = Annotated[LogServices, Depends(tenant_log)]


# The store of the caller's log, one Protocol at a time.
async def log_reader(log: TenantLog) -> LogReader:
    return log.ledger.store


async def attestation_reader(log: TenantLog) -> AttestationReader:
    return log.ledger.store


async def evidence_reader(log: TenantLog) -> EvidenceReader:
    return log.ledger.store


async def projection_source(log: TenantLog) -> ProjectionSource:
    # Each log has its own projections (schema version 3), which the server's follower keeps
    # current for every log of the database (api/follower.py).
    return log.ledger.store


LogReaderDep = Annotated[LogReader, Depends(log_reader)]
AttestationReaderDep = Annotated[AttestationReader, Depends(attestation_reader)]
EvidenceReaderDep = Annotated[EvidenceReader, Depends(evidence_reader)]
# The case list brings the case index up to date before reading it.
ProjectionSourceDep = Annotated[ProjectionSource, Depends(projection_source)]
