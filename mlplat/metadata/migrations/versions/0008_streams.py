"""Streaming feature sets: the set kind 'stream', the streaming queries and their micro-batch log.

Revision ID: 0008
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0005'
branch_labels = None
depends_on = None

OLD_KIND = sa.Enum('features', 'labels', name='set_kind', native_enum=False, length=16)
NEW_KIND = sa.Enum('features', 'labels', 'stream', name='set_kind', native_enum=False, length=16)


def upgrade() -> None:
    with op.batch_alter_table('feature_sets', schema=None) as batch_op:
        batch_op.alter_column('kind', existing_type=OLD_KIND, type_=NEW_KIND, existing_nullable=False)
    op.create_table('stream_queries',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('team', sa.String(length=128), nullable=False),
    sa.Column('desired', sa.Enum('running', 'stopped', name='stream_desired', native_enum=False, length=16), nullable=False),
    sa.Column('state', sa.Enum('starting', 'running', 'retrying', 'stopped', name='stream_state', native_enum=False, length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('restarts', sa.Integer(), nullable=False),
    sa.Column('lag', sa.BigInteger(), nullable=True),
    sa.Column('events_read', sa.BigInteger(), nullable=True),
    sa.Column('events_per_second', sa.Float(), nullable=True),
    sa.Column('last_batch_id', sa.BigInteger(), nullable=True),
    sa.Column('last_batch_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lag_alerted', sa.Boolean(), nullable=False),
    sa.Column('started_by', sa.String(length=128), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('stream_batches',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=False),
    sa.Column('watermark', sa.DateTime(timezone=True), nullable=True),
    sa.Column('max_event_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('late', sa.BigInteger(), nullable=False),
    sa.Column('dead', sa.BigInteger(), nullable=False),
    sa.Column('online_written', sa.BigInteger(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name', 'version', 'batch_id', name='uq_stream_batches_batch')
    )
    with op.batch_alter_table('stream_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stream_batches_name'), ['name'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('stream_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stream_batches_name'))
    op.drop_table('stream_batches')
    op.drop_table('stream_queries')
    with op.batch_alter_table('feature_sets', schema=None) as batch_op:
        batch_op.alter_column('kind', existing_type=NEW_KIND, type_=OLD_KIND, existing_nullable=False)
