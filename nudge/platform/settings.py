"""Settings from the environment (``NUDGE_*``) and an optional ``.env`` file."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NUDGE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".nudge"), description="Where the embedded databases live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; unset means SQLite at <data_dir>/nudge.db."
    )
    temporal_address: str | None = Field(
        None, description="host:port of a Temporal frontend; unset means the embedded dev server."
    )
    temporal_port: int = Field(7233, description="gRPC port of the embedded dev server.")
    temporal_ui_port: int = Field(8233, description="Web UI port of the embedded dev server.")
    temporal_ui_url: str | None = Field(
        None, description="Base URL of the Temporal web UI, for links; derived when unset."
    )
    namespace: str = "default"
    task_queue: str = "nudge"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = Field(
        1,
        ge=1,
        description="Processes serving the API's port (uvicorn workers), each with its own "
        "database pool and Temporal client.",
    )
    worker_activity_slots: int = Field(16, description="Activities a worker runs at once.")
    worker_max_cached_workflows: int = Field(
        1000,
        description="Workflows a worker keeps in memory; 0 turns sticky execution off. "
        "Measured: ~105 KB each (10,000 open sequences: 262 MB RSS at 1000, 1.15 GB at 10000).",
    )
    worker_workflow_pollers: int = Field(
        5, ge=1, description="Concurrent workflow task polls of a worker (the SDK's default)."
    )
    worker_activity_pollers: int = Field(
        5, ge=1, description="Concurrent activity task polls of a worker (the SDK's default)."
    )
    webhook_allow_private: bool = Field(
        False,
        description="Allow webhooks (reminders, task events) to loopback, private and "
        "link-local hosts.",
    )
    webhook_retry_hours: float = Field(
        72,
        gt=0,
        description="How long a task event's delivery is retried (backing off exponentially, "
        "at most an hour apart) before it is dead-lettered until replayed.",
    )
    webhook_first_retry_seconds: float = Field(
        10, gt=0, description="The first retry of a failed task event delivery waits this long."
    )
    events_retry_seconds: float = Field(
        5,
        gt=0,
        description="How often the API retries starting events it stored while "
        "Temporal was away (they start within this long of Temporal's return).",
    )
    timezone: str = Field("UTC", description="Time zone of the periodic jobs' clock times.")
    overdue_grace_hours: float = Field(
        24, description="How long past due an open task may be before it is escalated."
    )
    sweep_page_size: int = Field(500, description="Rows a periodic job handles per activity.")
    register_search_attributes: bool = Field(
        True, description="Register Nudge's search attributes when the worker starts."
    )
    worker_metrics_port: int | None = Field(
        None, description="Serve the worker's Prometheus metrics on this port; unset: none."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="json: one JSON object per log line (for log collectors)."
    )

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'nudge.db').resolve()}"

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def delivery_timing(self) -> tuple[float, float]:
        """(horizon, first retry) of task event deliveries, in seconds."""
        return self.webhook_retry_hours * 3600, self.webhook_first_retry_seconds

    @property
    def ui_base_url(self) -> str:
        if self.temporal_ui_url:
            return self.temporal_ui_url.rstrip("/")
        return f"http://127.0.0.1:{self.temporal_ui_port}"

    def workflow_url(self, workflow_id: str) -> str:
        """The workflow's page in the Temporal web UI."""
        return f"{self.ui_base_url}/namespaces/{self.namespace}/workflows/{workflow_id}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
