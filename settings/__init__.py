"""One settings object for the service and the CLI.

Every field can be set through an environment variable with the ``SME_CREDIT_`` prefix
(``SME_CREDIT_DATA_DIR=/srv/sme``) or a ``.env`` file in the working directory. Defaults
are safe for development: everything lives under ``./data`` on SQLite.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from features import DEFAULT_TIMEZONE

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Configuration of sme-credit (environment prefix ``SME_CREDIT_``)."""

    model_config = SettingsConfigDict(env_prefix="SME_CREDIT_", env_file=".env",
                                      extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development", description="Deployment environment; production refuses unsafe defaults.")
    data_dir: Path = Field(Path("data"), description="Folder for the embedded database, the "
                           "MLflow store, demo data and generated artefacts.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the database; default: SQLite file "
        "`<data_dir>/sme_credit.db`.")
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; default: SQLite store `<data_dir>/mlflow.db` "
        "with artifacts in `<data_dir>/mlartifacts`.")
    model_name: str = Field("sme-credit-pd", description="Registered model name.")
    currencies: tuple[str, ...] = Field(("CNY",), description="Supported order currencies.")
    timezone: str = Field(DEFAULT_TIMEZONE, description="Lender's time zone for business "
                          "dates.")

    # --- the HTTP service
    database_pool_size: int = Field(
        20, ge=1, le=500, description="Database connections each service process may "
        "hold; each stays open once opened (requests run in up to 40 threads per "
        "process; more wait for a connection). On PostgreSQL keep workers x this below "
        "the server's max_connections.")
    decision_group_commit: int = Field(
        64, ge=0, le=1000, description="Decisions arriving together are stored in one "
        "transaction of at most this many, each answered once that commit is durable (one "
        "disk flush for all, instead of one each); 0 stores each in its own transaction.")
    forwarded_allow_ips: str = Field(
        "", description="Comma-separated addresses of the reverse proxies whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed (`*`: any). Empty (the "
        "default): none, the client address is the TCP peer, so no client can choose the "
        "address the per-address login limit counts.")
    host: str = Field("127.0.0.1", description="Address the service listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port the service listens on.")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest request body "
                                "accepted; larger ones get 413.")
    model_alias: str = Field("champion", description="Registry alias the service serves.")
    model_poll_seconds: float = Field(
        30.0, ge=0, description="How often the service checks whether the alias moved "
        "(0: never; a reload can still be asked for through the API).")
    snapshot_max_age_seconds: float = Field(
        86400.0, gt=0, description="A decision refreshes a seller's feature snapshot that "
        "is older than this (time windows move even when no order arrives).")
    policy_path: Path | None = Field(None, description="Credit policy TOML; default: the "
                                     "policy shipped in the package.")
    session_idle_minutes: int = Field(30, ge=1, description="Officer sessions end after this "
                                      "long without a request.")
    session_max_hours: int = Field(12, ge=1, description="Officer sessions end this long "
                                   "after login whatever happens.")
    login_max_failures: int = Field(5, ge=1, description="Failed logins allowed per user name "
                                    "and per client address within the window.")
    login_window_minutes: int = Field(15, ge=1, description="Window of the login limit.")
    api_key_cache_seconds: float = Field(5.0, ge=0, description="How long a verified API key "
                                         "is trusted without a database read; a revoked "
                                         "key stops working within this time.")

    # --- the business day (docs/lending.md, "Business day and end of day")
    clock: Literal["real", "simulated"] = Field(
        "real", description="`real`: end of day never closes today or a later day in the "
        "lender's time zone, and the service closes each day by itself at the cut-off. "
        "`simulated`: days are closed only by `sme-credit eod run --through`, which may "
        "close any day (simulations and tests move time this way).")
    eod_cutoff: str = Field(
        "00:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="Lender's local "
        "time (HH:MM) from which the service closes the previous business day.")
    eod_batch_size: int = Field(1_000, ge=1, le=100_000, description="Lines end of day "
                                "advances per transaction (its resume step).")
    repayment_value_date_window_days: int = Field(
        5, ge=0, le=366, description="A repayment may carry a value date this many days "
        "before the business date (a bank file that arrives late); never a later one.")

    def eod_cutoff_time(self) -> time:
        """``eod_cutoff`` as a time of day."""
        hours, minutes = self.eod_cutoff.split(":")
        return time(int(hours), int(minutes))

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'sme_credit.db').resolve()}"

    def resolved_tracking_uri(self) -> str:
        """The MLflow tracking URI, defaulting to the embedded SQLite store."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"

    def artifact_location(self) -> str:
        """Where the embedded MLflow store keeps artifacts."""
        return (self.data_dir / "mlartifacts").resolve().as_uri()
