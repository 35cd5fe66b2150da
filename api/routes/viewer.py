"""The web viewer and the API documentation pages, from files inside the package.

`/` is the viewer (docs/VIEWER.md), `/verify.html` its bundle verifier alone, `/viewer/...`
their static files, and `/docs` and `/redoc` use the vendored Swagger UI and ReDoc: no page
of the service loads anything from another origin, so they work on a machine without
internet. No route here needs a token; the pages send the user's key to `/v1` themselves.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from viewer import STATIC

router = APIRouter(include_in_schema=False)

# The pages' own policy: scripts, styles and requests only to this origin; images also from
# blob: (evidence thumbnails fetched with the bearer token).
_VIEWER_CSP = ("default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
               "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
_HEADERS = {"Content-Security-Policy": _VIEWER_CSP, "Cache-Control": "no-cache",
            "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
_VENDOR = "/viewer/vendor"


@router.get("/")
async def viewer_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=_HEADERS)


@router.get("/verify.html")
async def verifier_page() -> FileResponse:
    return FileResponse(STATIC / "verify.html", media_type="text/html", headers=_HEADERS)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="Témoin — API",
        swagger_js_url=f"{_VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{_VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url="data:,",
        # No badge fetched from validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json", title="Témoin — API",
        redoc_js_url=f"{_VENDOR}/redoc/redoc.standalone.js", redoc_favicon_url="data:,",
        with_google_fonts=False,
    )


def install_viewer(app: FastAPI) -> None:
    """Register the pages and mount the static files (call with docs_url=redoc_url=None)."""
    app.include_router(router)
    app.mount("/viewer", StaticFiles(directory=STATIC), name="viewer")
