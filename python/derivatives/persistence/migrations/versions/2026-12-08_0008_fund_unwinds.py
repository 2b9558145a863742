"""fund unwinds: the insurance fund unwinder's steps with their reasons

Revision ID: 0008_fund_unwinds
Revises: 0007_shared_guards
Create Date: 2026-12-08
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0008_fund_unwinds'
down_revision = '0007_shared_guards'
branch_labels = None
depends_on = None


def _exact() -> sa.types.TypeEngine[Any]:
    """NUMERIC(38, 8); the decimal's text on SQLite (models.Exact)."""
    return sa.Numeric(38, 8).with_variant(sa.String(48), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'fund_unwinds',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('time', sa.BigInteger(), nullable=False, comment='when it was decided, Unix ms'),
        sa.Column('symbol', sa.String(length=20), nullable=False),
        sa.Column('reason', sa.String(length=24), nullable=False, comment='SLICE, PAUSED_THIN_BOOK or PAUSED_NO_MARK'),
        sa.Column('side', sa.String(length=4), nullable=False, comment='the closing side, BUY or SELL'),
        sa.Column('position', _exact(), nullable=False, comment="the fund's signed position before the step"),
        sa.Column('qty', _exact(), nullable=False, comment='quantity sent (0 when paused)'),
        sa.Column('filled', _exact(), nullable=False, comment='quantity the slice filled'),
        sa.Column('limit_price', _exact(), nullable=True, comment='the slippage cap'),
        sa.Column('book_notional', _exact(), nullable=False, comment='opposite depth within the cap, USDT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fund_unwinds')),
    )


def downgrade() -> None:
    op.drop_table('fund_unwinds')
