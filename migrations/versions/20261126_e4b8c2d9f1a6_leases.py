"""leases: a worker's hold on the items it processes, an upload's hold on its batch (issue 10)

Revision ID: e4b8c2d9f1a6
Revises: a91c3e5d7b20
Create Date: 2026-11-26 14:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "e4b8c2d9f1a6"
down_revision: str | None = "a91c3e5d7b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain nullable ADD COLUMNs: no table rebuild on SQLite, instant on PostgreSQL.
    op.add_column(
        "recognitions",
        sa.Column("leased_until", store.models.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column("recognitions", sa.Column("leased_by", sa.String(length=255), nullable=True))
    op.add_column(
        "batches",
        sa.Column("upload_until", store.models.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_column("upload_until")
    with op.batch_alter_table("recognitions", schema=None) as batch_op:
        batch_op.drop_column("leased_by")
        batch_op.drop_column("leased_until")
