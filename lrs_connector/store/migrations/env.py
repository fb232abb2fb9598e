"""Alembic environment: migrates the connection that `lrs_connector.store.schema` gives."""

from alembic import context

from lrs_connector.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
