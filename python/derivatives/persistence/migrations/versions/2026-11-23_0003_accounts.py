"""accounts: income, funding, adl, totals, withdrawals, trade fees

Revision ID: 0003_accounts
Revises: 0002_insurance_payouts
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_accounts'
down_revision = '0002_insurance_payouts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('adl_fills',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('event_index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('bankrupt_account', sa.BigInteger(), nullable=False),
    sa.Column('symbol', sa.String(length=20), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False, comment="the deleveraged account's closing side"),
    sa.Column('position_side', sa.String(length=5), nullable=False),
    sa.Column('qty', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('price', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('time', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('seq', 'event_index', name=op.f('pk_adl_fills'))
    )
    with op.batch_alter_table('adl_fills', schema=None) as batch_op:
        batch_op.create_index('ix_adl_fills_account_time', ['account_id', 'time'], unique=False)

    op.create_table('funding_rates',
    sa.Column('symbol', sa.String(length=20), nullable=False),
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('rate', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('mark', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('time', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('symbol', 'seq', name=op.f('pk_funding_rates'))
    )
    op.create_table('income',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('event_index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('income_type', sa.String(length=24), nullable=False),
    sa.Column('tran_id', sa.BigInteger(), nullable=False, comment='seq * 2**20 + index * 4 + kind'),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('symbol', sa.String(length=20), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('info', sa.String(length=32), nullable=False),
    sa.Column('trade_id', sa.BigInteger(), nullable=True),
    sa.Column('time', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('seq', 'event_index', 'income_type', name=op.f('pk_income')),
    sa.UniqueConstraint('tran_id', name=op.f('uq_income_tran_id'))
    )
    with op.batch_alter_table('income', schema=None) as batch_op:
        batch_op.create_index('ix_income_account_time', ['account_id', 'time'], unique=False)

    op.create_table('position_totals',
    sa.Column('account_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('symbol', sa.String(length=20), nullable=False),
    sa.Column('realised_pnl', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('commission', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.PrimaryKeyConstraint('account_id', 'symbol', name=op.f('pk_position_totals'))
    )
    op.create_table('withdrawals',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('requested_at', sa.BigInteger(), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', sa.BigInteger(), nullable=True),
    sa.Column('seq', sa.BigInteger(), nullable=True, comment='engine seq of the Withdraw'),
    sa.Column('note', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_withdrawals_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_withdrawals'))
    )
    with op.batch_alter_table('withdrawals', schema=None) as batch_op:
        batch_op.create_index('ix_withdrawals_status', ['status', 'id'], unique=False)

    with op.batch_alter_table('trades', schema=None) as batch_op:
        batch_op.add_column(sa.Column('maker_fee', sa.BigInteger(), server_default='0', nullable=False, comment='raw integer, scale 1e-8'))
        batch_op.add_column(sa.Column('maker_realised_pnl', sa.BigInteger(), server_default='0', nullable=False, comment='raw integer, scale 1e-8'))
        batch_op.add_column(sa.Column('taker_fee', sa.BigInteger(), server_default='0', nullable=False, comment='raw integer, scale 1e-8'))
        batch_op.add_column(sa.Column('taker_realised_pnl', sa.BigInteger(), server_default='0', nullable=False, comment='raw integer, scale 1e-8'))



def downgrade() -> None:
    with op.batch_alter_table('trades', schema=None) as batch_op:
        batch_op.drop_column('taker_realised_pnl')
        batch_op.drop_column('taker_fee')
        batch_op.drop_column('maker_realised_pnl')
        batch_op.drop_column('maker_fee')

    with op.batch_alter_table('withdrawals', schema=None) as batch_op:
        batch_op.drop_index('ix_withdrawals_status')

    op.drop_table('withdrawals')
    op.drop_table('position_totals')
    with op.batch_alter_table('income', schema=None) as batch_op:
        batch_op.drop_index('ix_income_account_time')

    op.drop_table('income')
    op.drop_table('funding_rates')
    with op.batch_alter_table('adl_fills', schema=None) as batch_op:
        batch_op.drop_index('ix_adl_fills_account_time')

    op.drop_table('adl_fills')
