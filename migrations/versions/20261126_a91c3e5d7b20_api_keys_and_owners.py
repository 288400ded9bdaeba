"""api keys and owners (issue 11: AUTH=keys)

Revision ID: a91c3e5d7b20
Revises: c7e1a5f3b2d4
Create Date: 2026-11-26 11:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "a91c3e5d7b20"
down_revision: str | None = "c7e1a5f3b2d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", store.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    # Plain ADD COLUMNs (no foreign key): no table rebuild on SQLite, instant on PostgreSQL.
    op.add_column("batches", sa.Column("owner_id", sa.Integer(), nullable=True))
    op.add_column("recognitions", sa.Column("owner_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recognitions", schema=None) as batch_op:
        batch_op.drop_column("owner_id")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_column("owner_id")
    op.drop_table("api_keys")
