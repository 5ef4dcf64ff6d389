"""The Monitoring Service: processed hours, hourly summaries (output, drift, skew), alerts, per-model settings.

Revision ID: 0009
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

STATE = sa.Enum('open', 'cleared', name='monitoring_alert_state', native_enum=False, length=16)


def _summary(name: str, *columns: 'sa.Column[object]', unique: tuple[str, ...]) -> None:
    op.create_table(name,
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    *columns,
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint(*unique, name=f'uq_{name}_{unique[-1]}')
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f'ix_{name}_model'), ['model'], unique=False)


def upgrade() -> None:
    op.create_table('monitoring_watermarks',
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('files', sa.JSON(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('skipped', sa.JSON(), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('model', 'hour')
    )
    _summary('monitoring_outputs',
             sa.Column('count', sa.BigInteger(), nullable=False),
             sa.Column('score_mean', sa.Float(), nullable=True),
             sa.Column('quantiles', sa.JSON(), nullable=False),
             sa.Column('class_shares', sa.JSON(), nullable=False),
             sa.Column('fallback_share', sa.Float(), nullable=True),
             sa.Column('error_share', sa.Float(), nullable=True),
             sa.Column('latency_p50', sa.Float(), nullable=True),
             sa.Column('latency_p99', sa.Float(), nullable=True),
             unique=('model', 'version', 'hour'))
    _summary('monitoring_drift',
             sa.Column('column', sa.String(length=256), nullable=False),
             sa.Column('kind', sa.String(length=16), nullable=False),
             sa.Column('status', sa.String(length=32), nullable=False),
             sa.Column('score', sa.Float(), nullable=True),
             sa.Column('statistics', sa.JSON(), nullable=False),
             sa.Column('rows', sa.BigInteger(), nullable=False),
             unique=('model', 'version', 'hour', 'column'))
    _summary('monitoring_skew',
             sa.Column('feature', sa.String(length=256), nullable=False),
             sa.Column('status', sa.String(length=32), nullable=False),
             sa.Column('compared', sa.BigInteger(), nullable=False),
             sa.Column('mismatches', sa.BigInteger(), nullable=False),
             sa.Column('mismatch_share', sa.Float(), nullable=True),
             unique=('model', 'version', 'hour', 'feature'))
    op.create_table('monitoring_alerts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('team', sa.String(length=128), nullable=False),
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('rule', sa.String(length=128), nullable=False),
    sa.Column('state', STATE, nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('opened_hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('monitoring_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitoring_alerts_key'), ['key'], unique=False)
        batch_op.create_index(batch_op.f('ix_monitoring_alerts_model'), ['model'], unique=False)
    op.create_table('monitoring_configs',
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('team', sa.String(length=128), nullable=False),
    sa.Column('thresholds', sa.JSON(), nullable=False),
    sa.Column('reference', sa.JSON(), nullable=False),
    sa.Column('notify', sa.JSON(), nullable=False),
    sa.Column('updated_by', sa.String(length=128), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('model')
    )
    op.create_table('monitoring_profiles',
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('profile', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('model', 'version')
    )


def downgrade() -> None:
    op.drop_table('monitoring_profiles')
    op.drop_table('monitoring_configs')
    with op.batch_alter_table('monitoring_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitoring_alerts_model'))
        batch_op.drop_index(batch_op.f('ix_monitoring_alerts_key'))
    op.drop_table('monitoring_alerts')
    for name in ('monitoring_skew', 'monitoring_drift', 'monitoring_outputs'):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{name}_model'))
        op.drop_table(name)
    op.drop_table('monitoring_watermarks')
