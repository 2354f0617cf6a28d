"""``sme-credit serve``: the HTTP API and the officer pages (uvicorn).

Configuration comes from the settings (``SME_CREDIT_*``): database URL, MLflow tracking
URI, model name and alias, listen address. With several workers each is a process of its
own, reading the same settings.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from cli import CliError
from settings import Settings

__all__ = ["register", "run", "HideSqlParameters", "WORKER_TIMEOUT_SECONDS"]

#: Seconds a worker may leave the supervisor's health check unanswered (``--worker-timeout``).
#: A worker answers from a thread of its own, which waits for Python's lock while the
#: worker imports its libraries and loads the model: on two busy cores, with every worker
#: starting at once, that took longer than uvicorn's default of 5 s, and the supervisor
#: killed workers still importing five to seven times per server, each new start costing
#: seconds of CPU taken from the requests the others were already answering.
WORKER_TIMEOUT_SECONDS = 60


class HideSqlParameters(logging.Filter):
    """Drop the parameter values of SQLAlchemy's statement log records.

    Debug logging shows each SQL statement, not the values bound to it: those carry
    personal and business data, and whatever a person typed into the login form (a
    password typed into the user name field is then a "user name" looked up in SQL).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record, with its parameters replaced when it lists SQL parameters."""
        if (record.name.startswith("sqlalchemy.engine") and isinstance(record.msg, str)
                and record.msg.endswith("[%s] %r") and isinstance(record.args, tuple)
                and len(record.args) == 2):
            record.msg = record.msg[:-2] + "[parameters hidden]"
            record.args = record.args[:1]
        return True


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` sub-command to the ``sme-credit`` parser."""
    parser = subparsers.add_parser(
        "serve", help="serve the HTTP API and the officer web page",
        description="Serve the API under /v1, the officer page under /officer/, health at "
        "/healthz and /readyz, metrics at /metrics. The database is migrated at start-up "
        "and the model of the configured alias is loaded (and followed when it moves).")
    parser.add_argument("--host", help="listen address (default: settings, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default: settings, 8000)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes (default 1; under load about twice the "
                        "CPUs: one process cannot keep a core busy while its requests "
                        "wait on the database)")
    parser.add_argument("--worker-timeout", type=int, default=WORKER_TIMEOUT_SECONDS,
                        metavar="SECONDS",
                        help="with several workers: how long a worker may leave the "
                        "supervisor's health check unanswered before it is killed and "
                        "started again (default %(default)s s; uvicorn's own 5 s killed "
                        "workers still starting on a busy two-core machine, over and over)")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"],
                        help="debug also logs every SQL statement (without the values "
                        "bound to it)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until interrupted (no ``server`` header: the software is nobody's business)."""
    import uvicorn

    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    if not 1 <= port <= 65535:
        raise CliError(f"--port must be between 1 and 65535; got {port}")
    if args.workers < 1:
        raise CliError(f"--workers must be at least 1; got {args.workers}")
    if args.worker_timeout < 1:
        raise CliError(f"--worker-timeout must be at least 1 second; got "
                       f"{args.worker_timeout}")
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_level == "debug":
        # SQLAlchemy keeps its loggers at WARNING unless told otherwise, and importing
        # MLflow (which the model holder does at start-up) gives "sqlalchemy.engine" a
        # handler of its own at WARNING: import it first, then send the SQL through the
        # root handlers, which hide the parameters.
        import mlflow  # noqa: F401

        sql_log = logging.getLogger("sqlalchemy.engine")
        sql_log.handlers = []
        sql_log.propagate = True
        sql_log.setLevel(logging.INFO)
        for handler in logging.getLogger().handlers:
            handler.addFilter(HideSqlParameters())
    print(f"serving on http://{host}:{port} (API docs /docs, officer page /officer/)",
          flush=True)
    # Forwarded headers are believed only from the proxies named in the settings (uvicorn
    # would otherwise trust them from 127.0.0.1, or from $FORWARDED_ALLOW_IPS).
    proxies = settings.forwarded_allow_ips.strip()
    forwarding: dict[str, Any] = ({"proxy_headers": True, "forwarded_allow_ips": proxies}
                                  if proxies else {"proxy_headers": False})
    if args.workers == 1:
        from api.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level=args.log_level,
                    access_log=False, server_header=False, **forwarding)
    else:  # worker processes import the factory and read the same environment
        uvicorn.run("api.app:create_app", factory=True, host=host, port=port,
                    workers=args.workers, log_level=args.log_level, access_log=False,
                    server_header=False, timeout_worker_healthcheck=args.worker_timeout,
                    **forwarding)
    return 0
