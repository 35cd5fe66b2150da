"""Independent proof's cost on appends, and its delay (issue 11, docs/PERFORMANCE.md).

    python scripts/bench_trust.py [--backend sqlite postgres] [--pairs 6] [--seconds 3]
                                  [--appends 200] [--rate 20] [--write docs/PERFORMANCE.md]

Per backend, two real `temoin serve` processes on fresh databases, up at the same time: one
plain, one with TEMOIN_TSA_URLS (a local TSA, scripts/local_tsa.py) and TEMOIN_WITNESSES (two
local `temoin witness serve`, quorum 2). Each gets scenario 3's load from scripts/bench.py in
turn while the other idles: single-event appends back to back over 64 open cases, then 500-event
batches from 4 clients, `--seconds` each; `--pairs` times, the order alternating, so that the
two figures of a pair see the same machine load. Printed: the rates, the median over pairs of
the ratio trusted / plain (goal >= 0.95), and, on the trusted server, the time from an
append's answer to a time-stamped checkpoint covering it (scripts/tsa_latency.py `measure`)
and to one cosigned by both witnesses (scripts/witness_latency.py `measure`), p50 / p99 (goal
p99 <= 2 s), with the load average. `--write` puts them in the file's section "Independent
proof (issue 11)", newest run first, keeping the two runs before (scripts/bench.py keeps that
section when it rewrites the file).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from ledger.config import Settings  # noqa: E402
from ledger.signing import LogKey  # noqa: E402
from scripts import tsa_latency, witness_latency  # noqa: E402
from scripts.bench import HTTP_CASES, bodies, database, http_load, percentile, served  # noqa: E402
from scripts.local_tsa import Running, running  # noqa: E402

BATCH, BATCH_CLIENTS = 500, 4


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _trust_env(settings: Settings, tsa: Running, work: Path, stack: ExitStack) -> dict[str, str]:
    """Two witnesses trusting this database's log and journal keys, started; the env."""
    log = LogKey.load_or_create(settings.key_path, settings.origin).verifier_key
    access = LogKey.load_or_create(settings.data_dir / "access.key",
                                   f"{settings.origin}/access").verifier_key
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMOIN_")}
    env["PYTHONPATH"] = str(ROOT)
    pairs = []
    for i in (1, 2):
        data = str(work / f"w{i}")
        vkey = witness_latency._cli(env, "witness", "key", "--data", data, "--name",
                                    f"w{i}.bench/witness")
        for origin, key in ((settings.origin, log), (f"{settings.origin}/access", access)):
            witness_latency._cli(env, "witness", "add-log", "--data", data, "--origin", origin,
                                 "--key", key)
        port = witness_latency._free_port()
        url = f"http://127.0.0.1:{port}"
        stack.enter_context(witness_latency._process(
            ["witness", "serve", "--data", data, "--port", str(port), "--log-level", "warning"],
            env, work / f"w{i}.log", url))
        pairs += [url, vkey]
    return {"TEMOIN_TSA_URLS": tsa.url, "TEMOIN_TSA_ROOTS": str(tsa.roots),
            "TEMOIN_WITNESSES": " ".join(pairs), "TEMOIN_WITNESS_QUORUM": "2"}


# --only: which half of the trusted configuration to keep, to tell their costs apart.
ONLY = {"both": (), "tsa": ("TEMOIN_WITNESSES", "TEMOIN_WITNESS_QUORUM"),
        "witnesses": ("TEMOIN_TSA_URLS", "TEMOIN_TSA_ROOTS")}


@contextmanager
def server(backend: str, trusted: bool, tsa: Running, work: Path,
           only: str = "both") -> Iterator[tuple[str, str, int, list[str]]]:
    """A `temoin serve` on a fresh database, plain or trusted, with 64 cases opened."""
    tag = "t" if trusted else "p"
    with database(backend, f"trust{tag}", work) as settings, ExitStack() as stack:
        env = _trust_env(settings, tsa, work / f"wit-{backend}", stack) if trusted else {}
        env = {k: v for k, v in env.items() if k not in ONLY[only]}
        with served(settings, work, extra_env=env) as (url, token, process):
            cases = [f"T-{n}" for n in range(HTTP_CASES)]
            with httpx.Client(base_url=url, timeout=60,
                              headers={"Authorization": f"Bearer {token}"}) as c:
                r = c.post("/v1/batches", json={"events": [{"case": k, **bodies()["CaseOpened"]}
                                                           for k in cases]})
                r.raise_for_status()
            yield url, token, process.pid, cases


def load(backend: str, target: tuple[str, str, int, list[str]], seconds: float,
         tag: str) -> dict[str, Any]:
    url, token, pid, cases = target
    common = {"server_pid": pid, "backend": backend, "warmup": 0.5}
    event = http_load(url, token, "event", HTTP_CASES, seconds, cases=cases, **common)
    batch = http_load(url, token, "batch", BATCH_CLIENTS, seconds, batch=BATCH, tag=tag,
                      **common)
    if event.errors or batch.errors:
        raise RuntimeError(f"errors under load: {event.first_error or batch.first_error}")
    return {"event_per_s": event.rate, "batch_events_per_s": batch.rate * BATCH,
            "event_p99_ms": percentile(event.latencies, 99) * 1000,
            "server_cpu": event.server_cpu}


def measure_backend(backend: str, tsa: Running, work: Path, seconds: float, pairs: int,
                    appends: int, rate: float,
                    only: str = "both") -> tuple[dict[str, Any], dict[bool, list]]:
    """Both servers up at once, idle in turn: `pairs` times the plain one's load then the
    trusted one's (order alternating), so that each pair's two figures see the same machine
    load; the ratio of each pair, then their median."""
    rows: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    with server(backend, False, tsa, work) as plain, server(backend, True, tsa, work,
                                                            only) as trust:
        for i in range(pairs):
            for trusted in ((False, True) if i % 2 == 0 else (True, False)):
                got = load(backend, trust if trusted else plain, seconds, f"B{trusted:d}{i}")
                rows[trusted].append(got)
                print(f"  {backend} pair {i} {'trusted' if trusted else 'plain  '}: "
                      + json.dumps({k: round(v, 2) for k, v in got.items()}), flush=True)
        url, token = trust[0], trust[1]
        stamped = tsa_latency.measure(url, token, appends, rate) if only != "witnesses" else [0.0]
        cosigned = witness_latency.measure(url, token, appends=appends, rate=rate) \
            if only != "tsa" else witness_latency.Latency([0.0])

    def ratio(key: str) -> float:
        return statistics.median(t[key] / p[key] for p, t in zip(rows[False], rows[True],
                                                                    strict=True))

    median = {t: {k: statistics.median(r[k] for r in rs)
                  for k in ("event_per_s", "batch_events_per_s")} for t, rs in rows.items()}
    return {
        "event_ratio": ratio("event_per_s"), "batch_ratio": ratio("batch_events_per_s"),
        "plain": median[False], "trusted": median[True],
        "to_timestamped_p50_ms": percentile(stamped, 50) * 1000,
        "to_timestamped_p99_ms": percentile(stamped, 99) * 1000,
        "to_cosigned_p50_ms": percentile(cosigned.samples, 50) * 1000,
        "to_cosigned_p99_ms": percentile(cosigned.samples, 99) * 1000,
    }, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", nargs="+", choices=("sqlite", "postgres"),
                        default=["sqlite", "postgres"])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0, help="counted window per load")
    parser.add_argument("--appends", type=int, default=200, help="for the latency figures")
    parser.add_argument("--rate", type=float, default=20.0, help="appends/s, latency figures")
    parser.add_argument("--only", choices=tuple(ONLY), default="both",
                        help="trusted server with only the TSA, or only the witnesses "
                             "(figures not written; latencies of the missing half are 0)")
    parser.add_argument("--write", type=Path, metavar="MD",
                        help="write the figures into this file's section " + repr(SECTION))
    args = parser.parse_args(argv)
    started, load_start = time.time(), load_average()
    print(f"load average at start: {load_start}", flush=True)
    runs: dict[str, dict[bool, list[dict[str, Any]]]] = {}
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="temoin-bench-trust-") as tmp, running(
            Path(tmp) / "tsa") as tsa:
        for backend in args.backend:
            summary[backend], runs[backend] = measure_backend(
                backend, tsa, Path(tmp), args.seconds, args.pairs, args.appends, args.rate,
                args.only)
            print(f"{backend}: {json.dumps(summary[backend])}", flush=True)
    load_end = load_average()
    print(f"load average at end: {load_end}")
    print(json.dumps(summary))
    if args.write is not None and args.only == "both":
        command = "python scripts/bench_trust.py " + shlex.join(argv if argv is not None
                                                                 else sys.argv[1:])
        run = render(summary, runs, command, load_start, load_end, started)
        text = args.write.read_text() if args.write.exists() else ""
        args.write.write_text(with_section(text, run))
    return 0


SECTION = "## Independent proof (issue 11)"
INTRO = f"""{SECTION}

Written by `scripts/bench_trust.py --write` (newest run first; do not edit by hand). Goals of
issue 11: appends with a local TSA and two local witnesses configured run at >= 0.95x the rate
without (scenario 3's two loads: single-event appends back to back over 64 open cases, and
500-event batches from 4 clients); from an append's answer to a time-stamped and to a
cosigned checkpoint covering it, p99 <= 2 s. Per backend, two real `temoin serve` on fresh
databases run side by side, plain and trusted (TEMOIN_TSA_URLS = a local `openssl ts` TSA,
TEMOIN_WITNESSES = two local `temoin witness serve`, quorum 2), and take the load in turn
(pairs, alternating which goes first), so both figures of a pair see the same machine load;
rates are medians over pairs, the ratio is the median of the pairs' ratios. The TSA and
witnesses run on the same 2 cores as the server, the database and the load generator, so the
trusted server pays their CPU too. Latencies: 200 single appends at 20/s on the trusted
server, polled every 20 ms (time-stamped: `GET /v1/log/checkpoints`) and 5 ms (cosigned:
`/healthz` witnessed_size).
"""


def render(summary: dict[str, Any], runs: dict[str, dict[bool, list[dict[str, Any]]]],
           command: str, load_start: str, load_end: str, started: float) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    lines = [f"### Run of {when}", "",
             f"    {command}", "",
             f"Took {(time.time() - started) / 60:.1f} min. Load average (1, 5, 15 min) at start "
             f"{load_start}, at end {load_end} on 2 cores: other engineers' test suites were "
             "running, so single runs vary widely; read the ratios with that in mind.", "",
             "| backend | single appends/s plain | trusted | ratio | batch events/s plain | "
             "trusted | ratio | to time-stamped p50 / p99 | to cosigned p50 / p99 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for backend, s in summary.items():
        lines.append(
            f"| {backend} | {s['plain']['event_per_s']:,.0f} | {s['trusted']['event_per_s']:,.0f}"
            f" | {_goal(s['event_ratio'])} | {s['plain']['batch_events_per_s']:,.0f} | "
            f"{s['trusted']['batch_events_per_s']:,.0f} | {_goal(s['batch_ratio'])} | "
            f"{s['to_timestamped_p50_ms']:,.0f} / {s['to_timestamped_p99_ms']:,.0f} ms | "
            f"{s['to_cosigned_p50_ms']:,.0f} / {s['to_cosigned_p99_ms']:,.0f} ms |")
    lines += ["", "Each pair in order (single appends/s, batch events/s, server CPU share "
              "during the single appends):", ""]
    for backend, results in runs.items():
        for trusted in (False, True):
            each = "; ".join(f"{r['event_per_s']:,.0f}, {r['batch_events_per_s']:,.0f}, "
                             f"{r['server_cpu']:.0%}" for r in results[trusted])
            lines.append(f"- {backend} {'trusted' if trusted else 'plain'}: {each}")
    return "\n".join(lines) + "\n"


def _goal(ratio: float) -> str:
    """The ratio, in bold when below the issue's 0.95."""
    return f"**{ratio:.2f}**" if ratio < 0.95 else f"{ratio:.2f}"


def with_section(text: str, run: str, keep: int = 2) -> str:
    """`text` with SECTION holding `run` first, then at most `keep` earlier runs."""
    start = text.find("\n" + SECTION + "\n")
    before, old = (text, "") if start < 0 else (text[:start], text[start + 1:])
    after = ""
    if old:
        end = old.find("\n## ")
        old, after = (old, "") if end < 0 else (old[:end], old[end:])
    earlier = ["### " + part.rstrip("\n") + "\n"
               for part in old.split("\n### ")[1:]][:keep]
    return (before.rstrip("\n") + "\n\n" + INTRO + "\n" + "\n".join([run, *earlier])
            + after)


if __name__ == "__main__":
    sys.exit(main())
