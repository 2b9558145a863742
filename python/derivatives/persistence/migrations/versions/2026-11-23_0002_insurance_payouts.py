"""insurance payouts

Revision ID: 0002_insurance_payouts
Revises: 0001_initial
Create Date: 2026-11-23 15:48:56.895568
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002_insurance_payouts'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('insurance_payouts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False, comment='engine account id to pay'),
    sa.Column('amount', sa.BigInteger(), nullable=False, comment='raw integer, scale 1e-8'),
    sa.Column('memo', sa.String(length=256), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False, comment='PENDING, SUBMITTING, PAID, REFUSED or DENIED'),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('requested_at', sa.BigInteger(), nullable=False),
    sa.Column('first_approver', sa.String(length=64), nullable=True),
    sa.Column('first_approved_at', sa.BigInteger(), nullable=True),
    sa.Column('second_approver', sa.String(length=64), nullable=True),
    sa.Column('second_approved_at', sa.BigInteger(), nullable=True),
    sa.Column('decided_at', sa.BigInteger(), nullable=True),
    sa.Column('outcome', sa.String(length=256), nullable=True, comment='engine refusal reason or denial note'),
    sa.Column('engine_seq', sa.BigInteger(), nullable=True, comment='seq of the InsurancePayout command'),
    sa.CheckConstraint('amount > 0', name=op.f('ck_insurance_payouts_amount_positive')),
    sa.CheckConstraint('first_approver IS NULL OR first_approver <> requested_by', name=op.f('ck_insurance_payouts_first_not_requester')),
    sa.CheckConstraint('second_approver IS NULL OR (second_approver <> requested_by AND first_approver IS NOT NULL AND second_approver <> first_approver)', name=op.f('ck_insurance_payouts_second_distinct')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insurance_payouts'))
    )
    with op.batch_alter_table('insurance_payouts', schema=None) as batch_op:
        batch_op.create_index('ix_insurance_payouts_status', ['status'], unique=False)

    op.create_table('insurance_payout_actions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('payout_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False, comment='REQUESTED, APPROVED, SUBMITTED, PAID, REFUSED, DENIED'),
    sa.Column('details', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['payout_id'], ['insurance_payouts.id'], name=op.f('fk_insurance_payout_actions_payout_id_insurance_payouts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insurance_payout_actions'))
    )
    with op.batch_alter_table('insurance_payout_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_insurance_payout_actions_payout_id'), ['payout_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('insurance_payout_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_insurance_payout_actions_payout_id'))

    op.drop_table('insurance_payout_actions')
    with op.batch_alter_table('insurance_payouts', schema=None) as batch_op:
        batch_op.drop_index('ix_insurance_payouts_status')

    op.drop_table('insurance_payouts')
