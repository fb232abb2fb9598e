"""competency frameworks

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import lrs_connector.store.tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "frameworks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("iri", sa.String(length=2048), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("imported_at", lrs_connector.store.tables.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frameworks")),
        sa.UniqueConstraint("iri", "version", name=op.f("uq_frameworks_iri_version")),
    )


def downgrade() -> None:
    op.drop_table("frameworks")
