"""margin history and fee rates: traders' isolated-margin adjustments (positionMargin/history) and
accounts' fee rates (a fee tier set by an admin)

Revision ID: 0009_margin_history_fee_rates
Revises: 0008_fund_unwinds
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009_margin_history_fee_rates'
down_revision = '0008_fund_unwinds'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'position_margin_changes',
        sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('event_index', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('account_id', sa.BigInteger(), nullable=False),
        sa.Column('symbol', sa.String(length=20), nullable=False),
        sa.Column('position_side', sa.String(length=5), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False,
                  comment='raw integer, scale 1e-8; signed: negative removes'),
        sa.Column('time', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('seq', 'event_index', name=op.f('pk_position_margin_changes')),
    )
    with op.batch_alter_table('position_margin_changes', schema=None) as batch_op:
        batch_op.create_index('ix_position_margin_changes_account_symbol_time', ['account_id', 'symbol', 'time'],
                              unique=False)
    op.create_table(
        'account_fee_rates',
        sa.Column('account_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('maker', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
        sa.Column('taker', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
        sa.PrimaryKeyConstraint('account_id', name=op.f('pk_account_fee_rates')),
    )


def downgrade() -> None:
    op.drop_table('account_fee_rates')
    with op.batch_alter_table('position_margin_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_position_margin_changes_account_symbol_time')
    op.drop_table('position_margin_changes')
