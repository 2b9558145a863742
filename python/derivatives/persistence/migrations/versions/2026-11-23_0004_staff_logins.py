"""staff logins: users.password_hash, users.totp_secret

Revision ID: 0004_staff_logins
Revises: 0003_accounts
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_staff_logins'
down_revision = '0003_accounts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_hash', sa.String(length=160), nullable=True,
                                      comment='scrypt, api.auth.passwords; None: no login'))
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True,
                                      comment='RFC 6238 base32 secret (admin logins)'))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('totp_secret')
        batch_op.drop_column('password_hash')
