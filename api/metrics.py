"""Prometheus metrics: request counts and latencies, decisions by outcome.

Each app has its own registry (several apps in one test process do not share counts).
Requests are labelled by route template (``/v1/lines/{line_id}``), never by raw path, so
ids do not explode the label space. Decisions by outcome are counted from the database
when scraped, so the figure is true across processes and restarts. The group commit's
counters (``sme_credit_decision_commit*``: commits, decisions per commit) are those of the
process that answers the scrape. Shadow scoring: the scores stored per challenger version
(``sme_credit_shadow_scores``) are counted from the database; the challenger's failures
(``sme_credit_shadow_score_failures``, by version and error) by the process that saw them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lending.persistence import end_of_day_status
from store import GroupCommit

if TYPE_CHECKING:
    from scoring import Scorer

__all__ = ["Metrics", "MetricsMiddleware", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _DecisionCollector(Collector):
    """Decisions by outcome and by current status, read from the decision table."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        outcomes = CounterMetricFamily("sme_credit_decisions", "Credit decisions made, by "
                                       "automatic outcome", labels=["outcome"])
        statuses = GaugeMetricFamily("sme_credit_decisions_by_status", "Credit decisions "
                                     "by current status (referred = waiting for an "
                                     "officer)", labels=["status"])
        try:
            with self.engine.connect() as connection:
                for outcome, count in connection.execute(sa.text(
                        "SELECT outcome, count(*) FROM credit_decision GROUP BY outcome")):
                    outcomes.add_metric([str(outcome)], float(count))
                for status, count in connection.execute(sa.text(
                        "SELECT status, count(*) FROM credit_decision GROUP BY status")):
                    statuses.add_metric([str(status)], float(count))
        except sa.exc.SQLAlchemyError:
            return  # the table is not there yet (or the database is down): no sample
        yield outcomes
        yield statuses
        shadow = CounterMetricFamily("sme_credit_shadow_scores", "Decisions also scored in "
                                     "the shadow by a challenger (stored, never acted on), "
                                     "by challenger version", labels=["model_version"])
        try:
            with self.engine.connect() as connection:
                for version, count in connection.execute(sa.text(
                        "SELECT model_version, count(*) FROM shadow_score "
                        "GROUP BY model_version")):
                    shadow.add_metric([str(version)], float(count))
        except sa.exc.SQLAlchemyError:
            return
        yield shadow


class _EndOfDayCollector(Collector):
    """The lender's business day: the last closed day and how long closing it took."""

    def __init__(self, engine: sa.Engine, timezone: str) -> None:
        self.engine = engine
        self.zone = ZoneInfo(timezone)

    def collect(self) -> Iterator[Any]:
        try:
            status = end_of_day_status(self.engine,
                                       today=datetime.now(self.zone).date())
        except sa.exc.SQLAlchemyError:
            return  # the tables are not there yet (or the database is down): no sample
        closed = GaugeMetricFamily(
            "sme_credit_end_of_day_last_closed_day", "The last business day end of day "
            "closed, as the Unix time of its midnight UTC (label: the date)", labels=["day"])
        start = datetime.combine(status.last_closed, datetime.min.time(), tzinfo=UTC)
        closed.add_metric([status.last_closed.isoformat()], start.timestamp())
        yield closed
        run = status.last_closed_run
        if run is not None:
            yield GaugeMetricFamily("sme_credit_end_of_day_seconds", "Time spent closing "
                                    "the last closed day (every attempt)", value=run.seconds)
            yield GaugeMetricFamily("sme_credit_end_of_day_lines", "Lines visited closing "
                                    "the last closed day", value=run.lines_processed)


class _GroupCommitCollector(Collector):
    """How decisions were committed by this process's group commit."""

    def __init__(self, commits: GroupCommit) -> None:
        self.commits = commits

    def collect(self) -> Iterator[Any]:
        stats = self.commits.stats
        for name, text, value in (
                ("sme_credit_decision_commits", "Commits of decisions by this process "
                 "(one per group of decisions stored together)", stats.groups),
                ("sme_credit_decision_commit_writes", "Decisions stored by those commits",
                 stats.writes),
                ("sme_credit_decision_commit_reruns", "Groups rolled back and stored one "
                 "decision at a time because one of them was refused", stats.reruns)):
            yield CounterMetricFamily(name, text, value=float(value))
        yield GaugeMetricFamily("sme_credit_decision_commit_largest", "Most decisions "
                                "committed together by this process", value=stats.largest)
        yield GaugeMetricFamily("sme_credit_decision_commit_waiting", "Decisions waiting "
                                "for the next commit in this process",
                                value=self.commits.waiting)


class Metrics:
    """The app's metrics registry."""

    def __init__(self, engine: sa.Engine | None = None, *,
                 commits: GroupCommit | None = None, timezone: str | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("sme_credit_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("sme_credit_http_request_duration_seconds",
                                 "Time to answer HTTP requests", ["method", "route"],
                                 buckets=_BUCKETS, registry=self.registry)
        self.shadow_failures = Counter(
            "sme_credit_shadow_score_failures", "Decisions the challenger could not score "
            "in the shadow (each decision was made all the same)",
            ["model_version", "error"], registry=self.registry)
        if engine is not None:
            self.registry.register(_DecisionCollector(engine))
        if engine is not None and timezone is not None:
            self.registry.register(_EndOfDayCollector(engine, timezone))
        if commits is not None:
            self.registry.register(_GroupCommitCollector(commits))

    def shadow_failed(self, challenger: Scorer, error: Exception) -> None:
        """Count a challenger's failure to score a decision in the shadow."""
        self.shadow_failures.labels(challenger.model_version, type(error).__name__).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Count and time every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None)
            label = str(template) if template else "unmatched"
            method = str(scope.get("method", "GET"))
            self.metrics.requests.labels(method, label, str(status)).inc()
            self.metrics.latency.labels(method, label).observe(
                time.perf_counter() - started)
