"""Alembic environment: always run with a connection handed in by ``scp_images.store.sql.database``."""

from alembic import context

from scp_images.store.sql.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
