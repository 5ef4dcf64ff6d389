"""Inference workers report what they serve (a deploy waits for them); deployment status is an enum.

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

STATUS = sa.Enum('live', 'refused', name='deployment_status', native_enum=False, length=16)


def upgrade() -> None:
    op.create_table('inference_workers',
    sa.Column('worker', sa.String(length=128), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('models', sa.JSON(), nullable=False),
    sa.Column('load_errors', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('worker')
    )
    with op.batch_alter_table('inference_workers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inference_workers_heartbeat_at'), ['heartbeat_at'], unique=False)
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=16), type_=STATUS, existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=STATUS, type_=sa.String(length=16), existing_nullable=False)
    with op.batch_alter_table('inference_workers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inference_workers_heartbeat_at'))
    op.drop_table('inference_workers')
