"""Settings from the environment (API.md "Command line"), turned into eventsourcing's env."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ledger.errors import ConfigurationError
from ledger.filemodes import private_dir, private_file
from ledger.store.log_ids import LOG_ID_KEY
from ledger.store.waits import LOCK_TIMEOUT_KEY, STATEMENT_TIMEOUT_KEY

DEFAULT_ORIGIN = "temoin.localhost/log"


class ConfigError(ConfigurationError, ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///data/temoin.db"
    data_dir: Path = Path("data")
    origin: str = DEFAULT_ORIGIN
    max_skew_seconds: int = 300
    pool_size: int = 2
    pg_connect_timeout: str = "2"
    # Seconds a statement may wait for a database lock (PostgreSQL lock_timeout, SQLite busy
    # timeout), and may run at all (PostgreSQL statement_timeout): a wait that runs out is
    # answered 503 with Retry-After instead of stalling every append (ledger/store/waits.py).
    lock_timeout: float = 5.0
    statement_timeout: float = 10.0
    extra_env: dict[str, str] = field(default_factory=dict)
    # Which log of the database these settings open (ledger/logs.py): log 1 is the
    # deployment's own, with `origin` above and its keys directly in `data_dir`.
    log_id: int = 1

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("TEMOIN_DATA_DIR", "data"))
        default_url = f"sqlite:///{data_dir / 'temoin.db'}"
        origin = env.get("TEMOIN_LOG_ORIGIN", DEFAULT_ORIGIN)
        if not origin or any(c.isspace() for c in origin) or "+" in origin:
            raise ConfigError(
                f"TEMOIN_LOG_ORIGIN must be a non-empty name without spaces or '+', got {origin!r}"
            )
        return cls(
            pg_connect_timeout=env.get("TEMOIN_PG_CONNECT_TIMEOUT", "2"),
            lock_timeout=positive_seconds(env, "TEMOIN_LOCK_TIMEOUT", cls.lock_timeout),
            statement_timeout=positive_seconds(
                env, "TEMOIN_STATEMENT_TIMEOUT", cls.statement_timeout
            ),
            database_url=env.get("TEMOIN_DATABASE_URL", default_url),
            data_dir=data_dir,
            origin=origin,
        )

    def for_whole_log_work(self) -> Settings:
        """These settings without a statement timeout, for the command-line tools that read
        or rewrite the whole log (verify, projections, reports): their statements take as
        long as the log is large. Their lock waits stay bounded."""
        return replace(self, statement_timeout=0)

    def for_log(self, log_id: int, origin: str) -> Settings:
        """These settings for another log of the same database (same vault and evidence)."""
        return replace(self, log_id=log_id, origin=origin)

    @property
    def log_dir(self) -> Path:
        """The folder of this log's signing keys and signer state: the data folder for log 1,
        `logs/<id>/` in it for the logs `temoin logs create` adds."""
        return self.data_dir if self.log_id == 1 else self.data_dir / "logs" / str(self.log_id)

    @property
    def key_path(self) -> Path:
        return self.log_dir / "log.key"

    @property
    def access_key_path(self) -> Path:
        return self.log_dir / "access.key"

    @property
    def vault_key_path(self) -> Path:
        return self.data_dir / "vault.key"

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    def persistence_env(self) -> dict[str, str]:
        """eventsourcing settings for the configured database URL."""
        url = self.database_url
        env: dict[str, str]
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///"):]
            if not path:
                raise ConfigError("TEMOIN_DATABASE_URL sqlite:/// needs a file path")
            if ":memory:" not in path and "mode=memory" not in path:
                # Owner-only from the first byte: by default the database sits beside the
                # keys, and it holds sealed personal data and the API token hashes.
                private_dir(Path(path).parent, warn=False)
                private_file(Path(path))
            env = {
                "PERSISTENCE_MODULE": "ledger.store.sqlite:Factory",
                "SQLITE_DBNAME": path,
                # Whole seconds for eventsourcing; our recorder sets the exact busy timeout.
                "SQLITE_LOCK_TIMEOUT": str(max(1, math.ceil(self.lock_timeout))),
            }
        elif url.startswith(("postgresql://", "postgres://")):
            parts = urlsplit(url)
            env = {
                "PERSISTENCE_MODULE": "ledger.store.postgres:Factory",
                "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
                "POSTGRES_HOST": parts.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(parts.port or 5432),
                "POSTGRES_USER": unquote(parts.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(parts.password or ""),
                "POSTGRES_POOL_SIZE": str(self.pool_size),
                "POSTGRES_MAX_OVERFLOW": "6",
                "POSTGRES_CONNECT_TIMEOUT": self.pg_connect_timeout,
            }
        else:
            raise ConfigError(
                "TEMOIN_DATABASE_URL must start with sqlite:/// or postgresql://, "
                f"got {url.split('://')[0]!r}://..."
            )
        if self.log_id != 1:
            env[LOG_ID_KEY] = str(self.log_id)
        env[LOCK_TIMEOUT_KEY] = str(_ms(self.lock_timeout))
        env[STATEMENT_TIMEOUT_KEY] = str(_ms(self.statement_timeout))
        env.update(self.extra_env)
        return env


def _ms(seconds: float) -> int:
    # 0 means "no bound" to both databases; a positive wait below 1 ms is still a bound.
    return 0 if seconds == 0 else max(1, round(seconds * 1000))


def positive_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive, finite number of seconds from the environment, or `default`."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"{name} must be a positive number of seconds, got {text!r}"
        )
    return value
