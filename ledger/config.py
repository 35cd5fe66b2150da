"""Settings from the environment (API.md "Command line"), turned into eventsourcing's env."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ledger.filemodes import private_dir, private_file

DEFAULT_ORIGIN = "temoin.localhost/log"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///data/temoin.db"
    data_dir: Path = Path("data")
    origin: str = DEFAULT_ORIGIN
    max_skew_seconds: int = 300
    pool_size: int = 2
    pg_connect_timeout: str = "2"
    extra_env: dict[str, str] = field(default_factory=dict)

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
            database_url=env.get("TEMOIN_DATABASE_URL", default_url),
            data_dir=data_dir,
            origin=origin,
        )

    @property
    def key_path(self) -> Path:
        return self.data_dir / "log.key"

    @property
    def access_key_path(self) -> Path:
        return self.data_dir / "access.key"

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
                "SQLITE_LOCK_TIMEOUT": "60",
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
                "POSTGRES_LOCK_TIMEOUT": "30",
            }
        else:
            raise ConfigError(
                "TEMOIN_DATABASE_URL must start with sqlite:/// or postgresql://, "
                f"got {url.split('://')[0]!r}://..."
            )
        env.update(self.extra_env)
        return env
