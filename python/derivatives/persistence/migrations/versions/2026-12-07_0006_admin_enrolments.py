"""admin enrolments: four-eyes creation of admins with one-time enrolment links

Revision ID: 0006_admin_enrolments
Revises: 0005_market_statistics
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_admin_enrolments'
down_revision = '0005_market_statistics'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'admin_enrolments',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False, comment='PENDING, APPROVED, ENROLLED'),
        sa.Column('requested_by', sa.String(length=64), nullable=False),
        sa.Column('requested_at', sa.BigInteger(), nullable=False),
        sa.Column('approved_by', sa.String(length=64), nullable=True),
        sa.Column('approved_at', sa.BigInteger(), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True, comment='the admin user, once approved'),
        sa.Column('token_hash', sa.String(length=64), nullable=True,
                  comment='SHA-256 hex of the one-time enrolment token'),
        sa.Column('expires_at', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('admin_enrolments')
