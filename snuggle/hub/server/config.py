"""ServerConfig: where the Hub server keeps its data and the limits it enforces.

>>> import tempfile
>>> cfg = ServerConfig(data_dir=tempfile.mkdtemp())
>>> cfg.database_url.startswith("sqlite:///")
True
>>> len(cfg.secret)
32
"""

from __future__ import annotations

import os
import secrets as _secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from snuggle.errors import ConfigError

MiB = 1024 * 1024
GB = 1000 * 1000 * 1000


def _load_or_create_secret(data_dir: Path) -> bytes:
    """The server's HMAC key in data_dir/secret (0600), created on first use.

    Two processes may start at once (`hub user add` while `hub serve` boots): the file is written to a
    temporary name and hard-linked into place, so whoever links first wins and everybody reads that one.
    """
    path = data_dir / "secret"
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".secret.", dir=data_dir)  # mkstemp creates the file 0600
    try:
        os.write(fd, _secrets.token_bytes(32))
        os.fsync(fd)
        os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return path.read_bytes()


@dataclass
class ServerConfig:
    """Settings of one Hub server instance (see the spec's limits, §12).

    `database_url` None means SQLite in `data_dir/hub.db`; PostgreSQL works with
    "postgresql+psycopg://user@host:port/db". `secret` signs LFS upload URLs; None loads (or creates)
    `data_dir/secret`.
    """

    data_dir: Path
    database_url: str | None = None
    inline_limit: int = 512 * MiB
    max_file_size: int = 50 * GB
    max_commit_files: int = 25000
    max_preupload_files: int = 256
    public_url: str | None = None
    secret: bytes | None = field(default=None, repr=False)
    lfs_url_ttl: int = 3600
    # a token's Principal (user, role, orgs) is reused for this long (spec §12 allows "a few seconds");
    # revocations and org changes made through this process take effect at once, from another one
    # (`snuggle hub ...` CLI, another --workers process) within this delay. 0 = look up every request.
    auth_cache_seconds: float = 2.0

    def __post_init__(self):
        self.data_dir = Path(self.data_dir).expanduser().absolute()
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir / 'hub.db'}"
        if self.inline_limit < 1:
            raise ConfigError(f"ServerConfig.inline_limit must be positive, got {self.inline_limit}")
        if not 1 <= self.lfs_url_ttl <= 3600:
            raise ConfigError(f"ServerConfig.lfs_url_ttl must be within 1..3600 seconds (spec §12), got {self.lfs_url_ttl}")
        if not 0 <= self.auth_cache_seconds <= 10:
            raise ConfigError(f"ServerConfig.auth_cache_seconds must be within 0..10 seconds (spec §12), "
                              f"got {self.auth_cache_seconds}")
        if self.public_url is not None:
            self.public_url = self.public_url.rstrip("/")
        if self.secret is None:
            self.secret = _load_or_create_secret(self.data_dir)

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @classmethod
    def from_env_and_args(cls, data_dir=None, database_url=None, **overrides) -> "ServerConfig":
        """Build a config from explicit arguments, falling back to SNUGGLE_HUB_* environment variables.

        Variables: SNUGGLE_HUB_DATA (data dir), SNUGGLE_HUB_DATABASE_URL, SNUGGLE_HUB_INLINE_LIMIT,
        SNUGGLE_HUB_MAX_FILE_SIZE, SNUGGLE_HUB_PUBLIC_URL (all read at call time).
        """
        env = os.environ
        data_dir = data_dir or env.get("SNUGGLE_HUB_DATA")
        if not data_dir:
            raise ConfigError("no Hub data directory: pass --data DIR or set SNUGGLE_HUB_DATA")
        database_url = database_url or env.get("SNUGGLE_HUB_DATABASE_URL") or None
        for key, var in (("inline_limit", "SNUGGLE_HUB_INLINE_LIMIT"), ("max_file_size", "SNUGGLE_HUB_MAX_FILE_SIZE")):
            if overrides.get(key) is None and env.get(var):
                try:
                    overrides[key] = int(env[var])
                except ValueError:
                    raise ConfigError(f"{var} must be an integer number of bytes, got {env[var]!r}") from None
        if overrides.get("public_url") is None and env.get("SNUGGLE_HUB_PUBLIC_URL"):
            overrides["public_url"] = env["SNUGGLE_HUB_PUBLIC_URL"]
        overrides = {k: v for k, v in overrides.items() if v is not None}
        return cls(data_dir=Path(data_dir), database_url=database_url, **overrides)
