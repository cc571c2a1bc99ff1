"""PostgreSQL 15 from Debian packages; run as the `postgres` user when we are root."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import asyncpg

from testenv.advertising import LOOPBACK, Advertised
from testenv.errors import StackError
from testenv.layout import Layout
from testenv.processes import run_checked, spawn, wait_until
from testenv.progress import step
from testenv.services.base import Context

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "dataquarantine"
HBA_FILE = "pg_hba.conf"


class Postgres:
    """PostgreSQL with trust auth on loopback (and the advertised address's network), fsync off,
    one database `dataquarantine`."""

    name = "postgres"
    version = "15"
    port_names: dict[str, int | None] = {"port": None}
    stop_timeout = 20.0

    def install(self, layout: Layout) -> None:
        """apt-get install postgresql-15 when missing (root only)."""
        if (PG_BIN / "postgres").exists():
            return
        if os.geteuid() != 0:
            raise StackError(
                "PostgreSQL 15 is missing: run `sudo apt-get install -y postgresql-15`"
            )
        with step("installing postgresql-15 from Debian packages"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            run_checked(["apt-get", "update", "-qq"], what="apt-get update", env=env)
            run_checked(
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql-15"],
                what="apt-get install postgresql-15",
                env=env,
            )

    def start(self, ctx: Context) -> int:
        """initdb once, then start the postmaster directly (its PID is the one we record)."""
        home = ctx.layout.service_dir(self.name)
        data = home / "data"
        log = ctx.layout.log_file(self.name)
        home.mkdir(parents=True, exist_ok=True)
        self._give_to_postgres_user(home)
        if not (data / "PG_VERSION").exists():
            with step("postgres: initdb"):
                run_checked(
                    [*_as_postgres(), str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust"]
                    + ["-U", "postgres", "--no-sync", "-E", "UTF8"],
                    what="initdb",
                )
        port = ctx.ports["port"]
        if ctx.advertised is not None:
            (home / HBA_FILE).write_text(host_based_access(ctx.advertised))
        pid = spawn(
            [*_as_postgres(), *postgres_command(home, port, ctx.advertised)],
            log_file=log,
            cwd=home,
        )
        wait_until(
            lambda: asyncio.run(_ensure_database(port)),
            what="postgres",
            timeout=60,
            pid=pid,
            log_file=log,
            interval=0.2,
        )
        return pid

    def env(self, ctx: Context) -> dict[str, str]:
        """DSN of the `dataquarantine` database."""
        port = ctx.ports["port"]
        return {
            "DQ_POSTGRES_DSN": f"postgresql://postgres@{ctx.host}:{port}/{DATABASE}",
            "DQ_POSTGRES_PORT": str(port),
        }

    @staticmethod
    def _give_to_postgres_user(home: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(home, "postgres", "postgres")
            data = home / "data"
            if data.exists():
                subprocess.run(["chown", "-R", "postgres:postgres", str(data)], check=True)


def postgres_command(home: Path, port: int, advertised: Advertised | None) -> list[str]:
    """The postmaster's command line: on 127.0.0.1 only by default; with an advertised address
    it listens there too and reads client authentication from `home`/pg_hba.conf."""
    listen = LOOPBACK if advertised is None else f"{LOOPBACK},{advertised.address}"
    command = [str(PG_BIN / "postgres"), "-D", str(home / "data"), "-k", str(home)]
    command += ["-p", str(port), "-c", f"listen_addresses={listen}", "-c", "fsync=off"]
    command += ["-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    command += ["-c", "max_connections=200"]
    if advertised is not None:
        command += ["-c", f"hba_file={home / HBA_FILE}"]
    return command


def host_based_access(advertised: Advertised) -> str:
    """pg_hba.conf of an advertised stack: `trust` on the socket and loopback, as `initdb -A
    trust` writes it, and from the network of the advertised address (kind's nodes connect
    from their addresses on Docker's bridge, not from the gateway)."""
    return (
        "local all all trust\n"
        "host all all 127.0.0.1/32 trust\n"
        "host all all ::1/128 trust\n"
        f"host all all {advertised.network} trust\n"
    )


def _as_postgres() -> list[str]:
    """initdb and postgres refuse to run as root: drop to the postgres user without a fork."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


async def _ensure_database(port: int) -> bool:
    conn = await asyncpg.connect(
        host="127.0.0.1", port=port, user="postgres", database="postgres", timeout=2
    )
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
    return True
