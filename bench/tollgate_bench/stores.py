"""The two ledger databases section c loads and queries: SQLite (a file inside the
ledger's data directory, written by the ledger process) and PostgreSQL (a durable server
of its own). Each says how the ledger is pointed at it, how much CPU its server used,
and what it holds (event and rollup counts, size, autovacuum activity)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import requests

from .accounting import postgres_cpu_s
from .processes import start_postgres

ROLLUP_TABLES = ["rollup_hourly", "rollup_hourly_coarse", "rollup_daily_coarse", "rollup_daily",
                 "rollup_daily_user"]


class SqliteQueryStore:
    """Section c's SQLite ledger: the database file under the ledger's data directory,
    read (read-only) for counts and size."""
    name, label = "sqlite", "SQLite"

    def __init__(self, data: Path) -> None:
        self.data = data

    def ledger_args(self) -> list[str]:
        return []

    def cpu_s(self) -> float:  # the database is inside the ledger process
        return 0.0

    def counts(self, addr: str, auth: dict) -> dict:
        con = sqlite3.connect(f"file:{self.data / 'ledger.sqlite3'}?mode=ro", uri=True)
        counts = {
            "events": con.execute("SELECT COUNT(*) FROM events").fetchone()[0],
            "rollup_rows": con.execute("SELECT COUNT(*) FROM rollup_hourly").fetchone()[0],
            "first_ms": con.execute("SELECT MIN(ts_ms) FROM events").fetchone()[0],
            "last_ms": con.execute("SELECT MAX(ts_ms) FROM events").fetchone()[0],
            "version": "SQLite " + con.execute("SELECT sqlite_version()").fetchone()[0],
        }
        tables = {}
        for t in ROLLUP_TABLES:
            try:
                tables[t] = con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            except sqlite3.OperationalError:  # an older ledger's schema
                pass
        counts["rollups"] = tables
        con.close()
        return counts

    def db_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.data.iterdir() if p.is_file())

    def maintenance(self) -> str:
        return ""

    def stop(self) -> None:
        pass


class PostgresQueryStore:
    """Section c's PostgreSQL ledger: a server from start_postgres() (durable settings),
    one database, read with the harness's psql."""
    name, label = "postgres", "PostgreSQL"
    DB = "bench_queries"

    def __init__(self, data: Path) -> None:
        self.pg = start_postgres()
        try:
            self.url = self.pg.create_database(self.DB)
        except BaseException:
            self.pg.stop()
            raise

    def ledger_args(self) -> list[str]:
        return ["--database-url", self.url]

    def cpu_s(self) -> float:
        return postgres_cpu_s(self.pg)

    def sql(self, query: str) -> list[str]:
        return self.pg.psql(self.DB, query).split("|")

    def counts(self, addr: str, auth: dict) -> dict:
        # The ledger folds the last events into the rollups at its next read of them (not
        # on a timer): one unrecorded read does that, so the counts include every event.
        pending = int(self.sql("SELECT COUNT(*) FROM rollup_pending")[0])
        requests.get(f"http://{addr}/v1/spend", params={"group_by": "team", "from": 0, "to": 1},
                     headers=auth, timeout=600).raise_for_status()
        events, first, last = self.sql("SELECT COUNT(*), MIN(ts_ms), MAX(ts_ms) FROM events")
        tables = dict(zip(ROLLUP_TABLES, (int(n) for n in self.sql(
            "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {t})" for t in ROLLUP_TABLES)))))
        return {"events": int(events), "rollup_rows": tables["rollup_hourly"],
                "first_ms": int(first) if first else None, "last_ms": int(last) if last else None,
                "version": "PostgreSQL " + self.sql("SHOW server_version")[0].split()[0],
                "rollups": tables, "pending_batches_at_load_end": pending}

    def db_bytes(self) -> int:
        return int(self.sql("SELECT pg_database_size(current_database())")[0])

    def maintenance(self) -> str:
        """What autovacuum is doing (it vacuums and analyses after a bulk load) and has done."""
        running, done = self.sql(
            "SELECT (SELECT string_agg(query, '; ') FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'), "
            "(SELECT string_agg(relname || ' ' || autovacuum_count || '+' || autoanalyze_count, ', ' ORDER BY relname) "
            "FROM pg_stat_user_tables WHERE autovacuum_count + autoanalyze_count > 0)")
        return f"running: {running or 'none'}; done (table vacuums+analyses): {done or 'none'}"

    def stop(self) -> None:
        self.pg.stop()


QUERY_STORES = {"sqlite": SqliteQueryStore, "postgres": PostgresQueryStore}
