"""A start-up refused for a known reason is reported as that reason, not as a traceback.

When the lifespan fails, Starlette hands the server the formatted traceback as the failure
message, and uvicorn logs it before "Application startup failed. Exiting." (exit status 3).
For a KeyCustodyError the traceback only hides what the operator must do; this middleware
replaces it with the error's own message. Any other failure keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.custody import KeyCustodyError, custody_message


class CleanStartupFailure:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_clean(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                # Starlette sends this from inside its `except` block around the lifespan:
                # the exception being handled is the one that stopped the start-up.
                exc: Any = sys.exc_info()[1]
                if isinstance(exc, KeyCustodyError):
                    message = {**message, "message": custody_message(exc)}
            await send(message)

        await self.app(scope, receive, send_clean)
