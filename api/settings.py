"""One settings object for the service and the CLI.

Every field can be set through an environment variable with the ``SME_CREDIT_`` prefix
(``SME_CREDIT_DATA_DIR=/srv/sme``) or a ``.env`` file in the working directory. Defaults
are safe for development: everything lives under ``./data`` on SQLite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    timezone: str = Field("Asia/Shanghai", description="Lender's time zone for business dates.")

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
