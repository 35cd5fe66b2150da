"""What auditors and lawyers read: the timeline, the integrity report and the evidence bundle.

Every read is recorded in the access journal (a second Merkle log) before it is answered.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Query, Request, Response

from api.auth import ADMIN, APPENDER, AUDITOR, LAWYER, CurrentKey, require_role
from api.bundle_file import TemporaryFileResponse, write_temporary
from api.deps import Services, ServicesDep
from api.log_services import LogServices
from api.logs import TenantLog
from api.problems import ProblemError, problem_responses
from api.routes.cases import CaseId, case_not_found, checked_case
from ledger.apikeys import ApiKey
from ledger.case_file import CaseFile, read_case_file
from projections.bundle import BundleBuildError, plan_case_bundle
from projections.i18n import LANGUAGES, UnsupportedLanguageError, checked_language, negotiate
from projections.pdf import render_report_pdf, render_timeline_pdf
from projections.pdf.sources import case_file_evidence, case_file_openings
from projections.report import report_of
from projections.views import (
    CaseNotYetError,
    SizeOutOfRangeError,
    UnknownCaseError,
    timeline,
    timeline_of,
)

router = APIRouter(prefix="/v1/cases", tags=["cases"])
log = logging.getLogger("temoin.api")

READERS = frozenset({APPENDER, AUDITOR, LAWYER, ADMIN})
EXAMINERS = frozenset({AUDITOR, LAWYER, ADMIN})
PDF = "application/pdf"

# Checked by `language()` rather than by FastAPI, so that a wrong value gets a problem naming
# the accepted ones; the schema still lists them for clients and the fuzzer.
LangQuery = Annotated[str | None, Query(
    description="Language of the PDFs (and of the bundle's PDFs): fr (default) or en. Without "
                "it, Accept-Language decides, French when it names neither. JSON is never "
                "translated. Any other value: 422.",
    json_schema_extra={"enum": list(LANGUAGES)})]


def language(request: Request, lang: str | None) -> str:
    """`?lang=` when given (an unknown value is an error naming the accepted ones), else the
    best of Accept-Language, else French."""
    if lang is not None:
        try:
            return checked_language(lang)
        except UnsupportedLanguageError as exc:
            raise ProblemError(422, str(exc), slug="unsupported-language") from None
    return negotiate(request.headers.get("accept-language"))


async def existing_case(served: LogServices, key: ApiKey, case: str) -> str:
    """Scope before role (API.md): a case that does not exist for this key is 404 for all."""
    case = checked_case(key, case)
    if await to_thread.run_sync(served.ledger.case, key.tenant, case) is None:
        raise case_not_found(case)
    return case


def record(served: LogServices, key: ApiKey, case: str, action: str) -> None:
    served.journal.record(tenant=key.tenant, case=case, who=key.id, role=key.role,
                            action=action)


def _report(served: LogServices, services: Services, key: ApiKey,
            file: CaseFile) -> dict[str, Any]:
    journal = served.journal.journal(key.tenant, file.case)
    stamper, witnessing = services.timestamper, services.witnessing
    report = report_of(
        file, access_journal=journal,
        tsa_roots=stamper.config.roots_pem if stamper is not None else None,
        witness_keys=[str(w.verifier) for w in witnessing.settings.witnesses]
        if witnessing is not None else (),
    )
    if report is None:
        raise case_not_found(file.case)
    return report


@router.get(
    "/{case}/timeline",
    operation_id="getCaseTimeline",
    summary="The case timeline with its legal clocks, as of a tree size",
    responses=problem_responses(401, 403, 404, 422, 429, 503),
)
async def get_timeline(
    case: CaseId,
    key: CurrentKey,
    served: TenantLog,
    size: Annotated[int | None, Query(ge=0, description="Tree size to replay at "
                                                         "(default: latest)")] = None,
) -> dict[str, Any]:
    """`temoin.timeline/v1`: only entries with index < size; legal clocks met / missed / running
    / unclaimed, counted in Europe/Paris days (docs/CLOCKS.md)."""
    case = checked_case(key, case)
    require_role(key, READERS, "read a timeline")

    def work() -> dict[str, Any]:
        view = timeline(served.ledger, key.tenant, case, size=size)
        record(served, key, case, "read_timeline")
        return view

    try:
        return await to_thread.run_sync(work)
    except CaseNotYetError as exc:
        # Not "does not exist": the case is in the log, only after this size.
        raise ProblemError(404, f"{exc}; ask for a size greater than {exc.first_index}",
                           slug="case-not-yet") from None
    except UnknownCaseError:
        raise case_not_found(case) from None
    except SizeOutOfRangeError as exc:
        raise ProblemError(422, str(exc), slug="size-out-of-range") from None


@router.get(
    "/{case}/report",
    operation_id="getCaseReport",
    summary="The integrity report of a case (JSON, or PDF with Accept: application/pdf)",
    responses={
        200: {"content": {"application/json": {}, PDF: {}}},
        **problem_responses(401, 403, 404, 422, 429, 503),
    },
)
async def get_report(case: CaseId, request: Request, key: CurrentKey,
                     services: ServicesDep, served: TenantLog,
                     lang: LangQuery = None) -> Response:
    case = await existing_case(served, key, case)
    require_role(key, EXAMINERS, "read an integrity report")
    wants_pdf = PDF in request.headers.get("accept", "")
    chosen = language(request, lang)
    # Signed by the checkpointer's task, not here: a read writes nothing but the journal.
    checkpoint = await served.checkpointer.covering()

    def work() -> Response:
        record(served, key, case, "read_report")
        file = read_case_file(served.ledger, key.tenant, case, checkpoint=checkpoint,
                              openings=True, evidence=True)
        report = _report(served, services, key, file)
        if wants_pdf:
            # No openings here: a report is read without the parties' names; the lawyer's
            # bundle, which holds the openings, names them.
            data = render_report_pdf(report, lang=chosen, evidence=case_file_evidence(file))
            return Response(data, media_type=PDF, headers={
                "Content-Disposition": f'attachment; filename="report-{case}.pdf"',
                "Content-Language": chosen, "Vary": "Accept, Accept-Language"})
        return Response(json.dumps(report, ensure_ascii=False), media_type="application/json")

    return await to_thread.run_sync(work)


@router.get(
    "/{case}/bundle",
    operation_id="getCaseBundle",
    summary="The evidence bundle (temoin.bundle/v1), verifiable offline",
    responses={
        200: {"content": {"application/zip": {}}},
        **problem_responses(401, 403, 404, 422, 429, 500, 503, 507),
    },
)
async def get_bundle(case: CaseId, request: Request, key: CurrentKey, services: ServicesDep,
                     served: TenantLog, lang: LangQuery = None) -> Response:
    """Written whole to a temporary file before the first byte is sent (so a failure is a
    problem, never a truncated 200), then streamed with its Content-Length."""
    case = await existing_case(served, key, case)
    require_role(key, EXAMINERS, "download an evidence bundle")
    chosen = language(request, lang)
    checkpoint = await served.checkpointer.covering()

    def work() -> Response:
        ledger = served.ledger
        record(served, key, case, "download_bundle")
        include_openings = key.role in EXAMINERS
        # Read once: the report, the timeline and the bundle's members all come from it.
        file = read_case_file(ledger, key.tenant, case, checkpoint=checkpoint,
                              openings=True, evidence=True)
        report = _report(served, services, key, file)
        view = timeline_of(file)
        # The PDFs name the parties exactly when the bundle carries the openings.
        opened = case_file_openings(file) if include_openings else None
        files = case_file_evidence(file)
        report_json = json.dumps(report, ensure_ascii=False, indent=2).encode()
        timeline_pdf = render_timeline_pdf(view, lang=chosen, openings=opened, evidence=files)
        report_pdf = render_report_pdf(report, lang=chosen, openings=opened, evidence=files,
                                       report_json=report_json)
        try:
            plan = plan_case_bundle(
                file, sign=ledger.key.sign_note, include_openings=include_openings,
                timeline_pdf=timeline_pdf, report_pdf=report_pdf, report_json=report_json,
                lang=chosen,
            )
            fh = write_temporary(plan, ledger.settings.data_dir,
                                 services.limits.bundle_disk_reserve)
        except BundleBuildError as exc:
            log.error("bundle of case %s (tenant %s) refused: %s", case, key.tenant, exc)
            raise ProblemError(
                500, "an evidence file of this case is missing or altered in the server's "
                "data folder, so no sound bundle can be built; the operator must restore it "
                "from backup ('temoin verify' names it)", slug="evidence-damaged",
            ) from None
        return TemporaryFileResponse(
            fh, media_type="application/zip", filename=f"bundle-{case}-{checkpoint.size}.zip",
            headers={"Content-Language": chosen, "Vary": "Accept-Language"})

    return await to_thread.run_sync(work)
