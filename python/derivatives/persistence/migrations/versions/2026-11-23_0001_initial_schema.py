"""initial schema

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23 15:06:13.192971
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001_initial'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('target', sa.String(length=128), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_table('klines_1m',
    sa.Column('symbol', sa.String(length=20), nullable=False),
    sa.Column('open_time', sa.BigInteger(), nullable=False),
    sa.Column('open', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('high', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('low', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('close', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('volume', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('quote_volume', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('trades', sa.Integer(), nullable=False),
    sa.Column('taker_buy_volume', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('taker_buy_quote_volume', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('first_trade_id', sa.BigInteger(), nullable=False),
    sa.Column('last_trade_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('symbol', 'open_time', name=op.f('pk_klines_1m'))
    )
    op.create_table('orders',
    sa.Column('order_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('symbol', sa.String(length=20), nullable=False),
    sa.Column('client_order_id', sa.String(length=36), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('order_type', sa.String(length=24), nullable=False, comment='Binance type as placed'),
    sa.Column('time_in_force', sa.String(length=3), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=True, comment='raw integer, scale 1e-8'),
    sa.Column('orig_qty', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('executed_qty', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('cum_quote', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('stop_price', sa.BigInteger(), nullable=True, comment='raw integer, scale 1e-8'),
    sa.Column('activation_price', sa.BigInteger(), nullable=True, comment='raw integer, scale 1e-8'),
    sa.Column('callback_rate', sa.BigInteger(), nullable=True, comment='raw integer, scale 1e-8'),
    sa.Column('working_type', sa.String(length=16), nullable=False),
    sa.Column('reduce_only', sa.Boolean(), nullable=False),
    sa.Column('close_position', sa.Boolean(), nullable=False),
    sa.Column('position_side', sa.String(length=5), nullable=False),
    sa.Column('stp_mode', sa.String(length=12), nullable=False),
    sa.Column('good_till_ms', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False, comment='Binance order status'),
    sa.Column('algo_status', sa.String(length=12), nullable=True),
    sa.Column('trigger_price_seen', sa.BigInteger(), nullable=True, comment='raw integer, scale 1e-8'),
    sa.Column('expire_reason', sa.String(length=24), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.Column('triggered_at', sa.BigInteger(), nullable=True),
    sa.Column('seq', sa.BigInteger(), nullable=False, comment='engine seq of the last change'),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_orders'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_account_client', ['account_id', 'client_order_id'], unique=False)
        batch_op.create_index('ix_orders_account_symbol_order', ['account_id', 'symbol', 'order_id'], unique=False)

    op.create_table('projection_cursor',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_projection_cursor'))
    )
    op.create_table('trades',
    sa.Column('trade_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('symbol', sa.String(length=20), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('qty', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('quote_qty', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('taker_side', sa.String(length=4), nullable=False),
    sa.Column('maker_order_id', sa.BigInteger(), nullable=False),
    sa.Column('maker_account', sa.BigInteger(), nullable=False),
    sa.Column('taker_order_id', sa.BigInteger(), nullable=False),
    sa.Column('taker_account', sa.BigInteger(), nullable=False),
    sa.Column('time', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('trade_id', name=op.f('pk_trades'))
    )
    with op.batch_alter_table('trades', schema=None) as batch_op:
        batch_op.create_index('ix_trades_maker_account', ['maker_account', 'symbol', 'trade_id'], unique=False)
        batch_op.create_index('ix_trades_symbol_trade', ['symbol', 'trade_id'], unique=False)
        batch_op.create_index('ix_trades_taker_account', ['taker_account', 'symbol', 'trade_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False, comment='engine account id'),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('account_id', name=op.f('uq_users_account_id')),
    sa.UniqueConstraint('name', name=op.f('uq_users_name'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('api_key', sa.String(length=64), nullable=False),
    sa.Column('secret', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('can_read', sa.Boolean(), nullable=False),
    sa.Column('can_trade', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('revoked_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_keys_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('api_key', name=op.f('uq_api_keys_api_key'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_user_id'), ['user_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_user_id'))

    op.drop_table('api_keys')
    op.drop_table('users')
    with op.batch_alter_table('trades', schema=None) as batch_op:
        batch_op.drop_index('ix_trades_taker_account')
        batch_op.drop_index('ix_trades_symbol_trade')
        batch_op.drop_index('ix_trades_maker_account')

    op.drop_table('trades')
    op.drop_table('projection_cursor')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_account_symbol_order')
        batch_op.drop_index('ix_orders_account_client')

    op.drop_table('orders')
    op.drop_table('klines_1m')
    op.drop_table('audit_log')

