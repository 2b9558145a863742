"""market statistics: 5-minute samples behind /futures/data

Revision ID: 0005_market_statistics
Revises: 0004_staff_logins
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0005_market_statistics'
down_revision = '0004_staff_logins'
branch_labels = None
depends_on = None


def _exact() -> sa.types.TypeEngine[Any]:
    """NUMERIC(38, 8); the decimal's text on SQLite (models.Exact)."""
    return sa.Numeric(38, 8).with_variant(sa.String(48), 'sqlite')


def upgrade() -> None:
    op.create_table('market_statistics',
    sa.Column('symbol', sa.String(length=20), nullable=False),
    sa.Column('bucket', sa.BigInteger(), nullable=False, comment='bucket start, Unix ms'),
    sa.Column('sampled_at', sa.BigInteger(), nullable=False),
    sa.Column('open_interest', _exact(), nullable=False, comment='sum of long quantities'),
    sa.Column('mark_price', _exact(), nullable=False),
    sa.Column('index_price', _exact(), nullable=False),
    sa.Column('long_accounts', sa.Integer(), nullable=False, comment='accounts net long'),
    sa.Column('short_accounts', sa.Integer(), nullable=False, comment='accounts net short'),
    sa.Column('top_long_accounts', sa.Integer(), nullable=False, comment='top 20% by margin balance, net long'),
    sa.Column('top_short_accounts', sa.Integer(), nullable=False, comment='top 20% by margin balance, net short'),
    sa.Column('top_long_position', _exact(), nullable=False, comment='net long quantity of the top accounts'),
    sa.Column('top_short_position', _exact(), nullable=False, comment='net short quantity of the top accounts'),
    sa.Column('taker_buy_volume', _exact(), nullable=False),
    sa.Column('taker_sell_volume', _exact(), nullable=False),
    sa.PrimaryKeyConstraint('symbol', 'bucket', name=op.f('pk_market_statistics'))
    )


def downgrade() -> None:
    op.drop_table('market_statistics')
