"""The `postgres` section: section b's runs on PostgreSQL (Debian's server restarted
with durable settings, one fresh database per run, the ledger on `serve
--database-url`), added to the SQLite runs of the same rounds."""

from __future__ import annotations

from ..log import log
from ..processes import start_postgres

RUNS = [("random", 500), ("random", 1000), ("ordered", 1000)]  # (event ids, batch size)


def start_for_ingest(args) -> tuple[object | None, list[tuple], str | None]:
    """Starts the server; returns (server, the runs to add to section b's plan, None),
    or (None, [], why) when it could not be started: the SQLite figures still stand."""
    try:
        pg = start_postgres()
    except Exception as e:  # noqa: BLE001
        error = f"PostgreSQL could not be started: {e}"
        log(error)
        return None, [], error
    plan = [("postgres", ids, batch, args.ingest_seconds, args.senders) for ids, batch in RUNS
            if args.ingest_ids in ("all", ids)]
    return pg, plan, None


def database_url(pg, db_no: int) -> str:
    """A fresh database for one ingest run."""
    return pg.create_database(f"bench_{db_no}")
