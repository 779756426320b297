"""Settings, read once from the environment (prefix ``CONTENTHUB_``) and an optional TOML/.env file.

One object holds every knob so that the app, the CLI and the tests build the same thing from the
same source; nothing else in the package reads ``os.environ``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = PROJECT_ROOT / "models" / "multilingual-e5-small"

# Secrets generated into data_dir on first use when not configured. Stored data depends on them (phone
# identities are stored as salted hashes; console sessions are signed), so `contenthub store copy` carries
# them to the destination's data folder (contenthub/store/data_secrets.py).
PHONE_SALT_FILE = ".phone_salt"
SESSION_SECRET_FILE = ".session_secret"  # app._secret(settings, "session_secret", …) names it


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CONTENTHUB_",
        env_file=".env",
        extra="ignore",
    )

    data_dir: Path = Field(default=Path("data"), description="Where the SQLite file and media files live.")
    store_url: str = Field(
        default="",
        description="sqlite:///path/to/contenthub.db or elasticsearch://host:9200 (empty: SQLite in data_dir).",
    )
    es_index_prefix: str = Field(default="contenthub", description="Prefix of every Elasticsearch index.")
    model_path: Path = Field(default=DEFAULT_MODEL_DIR, description="A sentence-transformers model directory.")
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    max_request_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    session_secret: str = Field(default="", description="Signs session cookies; generated into data_dir if empty.")
    bootstrap_admin_key: str = Field(default="", description="If set, an admin API key with this value exists.")
    timezone: str = "Asia/Shanghai"
    secure_cookies: bool = Field(default=False, description="Mark session cookies Secure (set behind HTTPS).")
    rate_limit_per_minute: int = Field(
        default=6_000,
        ge=1,
        description="Requests per minute per API key (a bot "
        "asking for next content 100 times a second; bursts of 10 s worth).",
    )
    failed_auth_per_minute: int = Field(
        default=30,
        ge=1,
        description="Failed authentications (wrong or revoked "
        "keys, failed console sign-ins) per minute per client address before "
        "429; bursts of 10 s worth.",
    )
    server_workers: int = Field(
        default=1,
        ge=1,
        description="API worker processes sharing the rate limit (set by `contenthub serve --workers`).",
    )
    phone_salt: str = Field(default="", description="Salt for phone hashes; generated into data_dir if empty.")
    profile_half_life_days: float = Field(default=30.0, gt=0, description="Half-life of engagement in profiles.")
    tagging_retrain_after: int = Field(
        default=20,
        ge=0,
        description="Retrain the tag suggester after this many new editor confirmations (0: only on command).",
    )
    redelivery_window_days: int = Field(default=30, ge=0, description="Never resend an asset within this window.")
    learn_every_events: int = Field(
        default=2000,
        ge=0,
        description=(
            "Refit the default strategy's weights (recommend/learning.py) after this many new events; 0 = only "
            "when `contenthub strategies learn` runs."
        ),
    )
    max_event_future_seconds: int = Field(default=3600, ge=0, description="Events further in the future are rejected.")
    warm_search: bool = Field(
        default=True,
        description="Load the embedding model and search indexes when the "
        "server starts, before it answers (off: on the first search).",
    )
    journeys_loop_seconds: float = Field(
        default=30,
        ge=0,
        description="Journey scheduler tick in the app (0: off; run `contenthub journeys run` instead).",
    )

    def resolved_store_url(self) -> str:
        if self.store_url:
            return self.store_url
        return f"sqlite:///{(self.data_dir / 'contenthub.db').as_posix()}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
