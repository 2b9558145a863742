"""shared guards: IP bans, login attempts per IP and per name, staff session epochs and TOTP steps

Revision ID: 0007_shared_guards
Revises: 0006_admin_enrolments
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007_shared_guards'
down_revision = '0006_admin_enrolments'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ip_bans',
        sa.Column('ip', sa.String(length=64), nullable=False),
        sa.Column('until_ms', sa.BigInteger(), nullable=False, comment='the ban ends at this Unix ms'),
        sa.Column('offences', sa.Integer(), nullable=False, comment='bans so far: each lasts twice the previous'),
        sa.PrimaryKeyConstraint('ip', name=op.f('pk_ip_bans')),
    )
    op.create_table(
        'login_windows',
        sa.Column('ip', sa.String(length=64), nullable=False),
        sa.Column('window', sa.BigInteger(), nullable=False, comment='Unix ms // 60000'),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('ip', 'window', name=op.f('pk_login_windows')),
    )
    op.create_table(
        'login_failures',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('at_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures')),
    )
    op.create_index(op.f('ix_login_failures_name'), 'login_failures', ['name'], unique=False)
    op.create_table(
        'staff_guards',
        sa.Column('user_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('session_epoch', sa.Integer(), nullable=False),
        sa.Column('totp_step', sa.BigInteger(), nullable=False, comment='RFC 6238 time step; -1 before any'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_staff_guards')),
    )


def downgrade() -> None:
    op.drop_table('staff_guards')
    op.drop_index(op.f('ix_login_failures_name'), table_name='login_failures')
    op.drop_table('login_failures')
    op.drop_table('login_windows')
    op.drop_table('ip_bans')
