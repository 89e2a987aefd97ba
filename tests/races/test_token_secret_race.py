"""First starts racing on one new database (an SQLite file, PostgreSQL) make exactly one token secret, and
every one of them gets that one: the secret is generated under the start-up lock. Each thread has its
own engine, as separate processes would; a barrier lets them read "no secret yet" at the same moment."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import delete, func, select

from scp_images.services.access.secrets import SecretCipher
from scp_images.services.access.server_secrets import ServerSecrets
from scp_images.store.sql.database import Database, create_db_engine, migrate
from scp_images.store.sql.tables import server_secrets

STARTS = 4
ROUNDS = 5


def test_racing_first_starts_make_one_secret_and_all_use_it(database_url: str) -> None:
    databases = [Database(create_db_engine(database_url)) for _ in range(STARTS)]
    migrate(databases[0].engine)
    barrier = threading.Barrier(STARTS)

    def first_start(db: Database) -> str:
        barrier.wait(timeout=30)
        return ServerSecrets(db, SecretCipher(())).token_secret()

    try:
        with ThreadPoolExecutor(STARTS) as pool:
            for round_ in range(ROUNDS):
                got = list(pool.map(first_start, databases))
                with databases[0].transaction() as conn:
                    rows = conn.execute(select(func.count()).select_from(server_secrets)).scalar_one()
                    conn.execute(delete(server_secrets))  # the next round starts on "no secret yet"
                assert rows == 1, round_
                assert len(set(got)) == 1 and got[0], (round_, got)
    finally:
        for db in databases:
            db.dispose()
