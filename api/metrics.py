"""Prometheus metrics in the text exposition format (version 0.0.4).

A few counters and one histogram do not justify a dependency; this module writes the format
directly. Labels never carry a tenant, a case or a key id (API.md: `/metrics` carries no tenant
or case data), and routes are labelled by their template, so label sets stay bounded.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)) + "}"


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Counter:
    def __init__(self, name: str, help_: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_, tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1, *labels: str) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0) + amount

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            items = sorted(self._values.items())
        if not items and not self.label_names:
            items = [((), 0)]
        lines += [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]
        return lines


class Gauge:
    """A gauge whose value is read when scraped."""

    def __init__(self, name: str, help_: str, read: Callable[[], float | None]) -> None:
        self.name, self.help, self.read = name, help_, read

    def render(self) -> list[str]:
        value = self.read()
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge"]
        if value is not None:
            lines.append(f"{self.name} {_number(value)}")
        return lines


class LabelledGauge:
    """A gauge with labels, read when scraped: `read` returns {label values: value}."""

    def __init__(
        self, name: str, help_: str, labels: Sequence[str],
        read: Callable[[], dict[tuple[str, ...], float]],
    ) -> None:
        self.name, self.help, self.label_names, self.read = name, help_, tuple(labels), read

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge"]
        lines += [f"{self.name}{_labels(self.label_names, k)} {_number(v)}"
                  for k, v in sorted(self.read().items())]
        return lines


class Histogram:
    def __init__(self, name: str, help_: str, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.name, self.help = name, help_
        self.buckets = tuple(buckets)
        self._counts = [0] * (len(self.buckets) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self._counts[bisect.bisect_left(self.buckets, value)] += 1
            self._sum += value

    def render(self) -> list[str]:
        with self._lock:
            counts, total_sum = list(self._counts), self._sum
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        cumulative = 0
        for bound, count in zip((*self.buckets, float("inf")), counts, strict=True):
            cumulative += count
            lines.append(f'{self.name}_bucket{{le="{_number(bound)}"}} {cumulative}')
        lines.append(f"{self.name}_sum {_number(total_sum)}")
        lines.append(f"{self.name}_count {cumulative}")
        return lines


class Metrics:
    """The service's metrics; the tree size and the checkpoint time of each log are pushed in
    by their owners (appends, the checkpointers), so a scrape never touches the database.
    Both are labelled by log id (`log="1"`): a number, never a tenant (docs/STORAGE.md "Many
    logs"); a log shows once this server started it."""

    def __init__(self) -> None:
        self.tree_sizes: dict[int, int] = {}
        self.signed_at: dict[int, datetime] = {}
        self.appends = Counter("temoin_appends_total", "Events appended to the log")
        self.append_latency = Histogram(
            "temoin_append_latency_seconds",
            "Time from receiving a valid append request to its durable commit",
        )
        self.http_requests = Counter(
            "temoin_http_requests_total", "HTTP requests by method, route template and status",
            ("method", "route", "status"),
        )
        self._metrics: list[Counter | Gauge | LabelledGauge | Histogram] = [
            self.appends,
            self.append_latency,
            LabelledGauge("temoin_tree_size", "Entries in the log", ("log",),
                          lambda: {(str(i),): float(n) for i, n in self.tree_sizes.items()}),
            LabelledGauge(
                "temoin_checkpoint_age_seconds",
                "Seconds since the log's latest checkpoint was signed", ("log",),
                self._checkpoint_ages,
            ),
            self.http_requests,
        ]
        # Other parts of the service (witnessing) add their own lines, read when scraped.
        self.sources: list[Callable[[], list[str]]] = []

    def add(self, *metrics: Counter | Gauge | LabelledGauge | Histogram) -> None:
        """Metrics of an optional background service (e.g. the time-stamper), rendered last."""
        self._metrics.extend(metrics)

    def grew(self, size: int, log_id: int = 1) -> None:
        # Concurrent appends report in any order: keep the largest.
        self.tree_sizes[log_id] = max(self.tree_sizes.get(log_id, 0), size)

    def checkpoint_signed(self, when: datetime, log_id: int = 1) -> None:
        self.signed_at[log_id] = when

    def _checkpoint_ages(self) -> dict[tuple[str, ...], float]:
        now = datetime.now(UTC)
        return {(str(i),): max(0.0, (now - at).total_seconds())
                for i, at in list(self.signed_at.items())}

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._metrics:
            lines += metric.render()
        for source in self.sources:
            lines += source()
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Counts every HTTP request by method, route template (never the raw path) and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.http_requests.inc(1, scope.get("method", ""), template, str(status))
