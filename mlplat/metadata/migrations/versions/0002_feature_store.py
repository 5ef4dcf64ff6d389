"""feature store

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=256), nullable=False),
    sa.Column('team', sa.String(length=128), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_subject'), ['subject'], unique=False)

    op.create_table('example_sets',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('team', sa.String(length=128), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('manifest', sa.JSON(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name', 'version', name='uq_example_sets_name_version')
    )
    with op.batch_alter_table('example_sets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_example_sets_name'), ['name'], unique=False)

    op.create_table('feature_sets',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('features', 'labels', name='set_kind', native_enum=False, length=16), nullable=False),
    sa.Column('team', sa.String(length=128), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name', 'kind', name='uq_feature_sets_name_kind')
    )
    op.create_table('transformers',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('team', sa.String(length=128), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('example_set', sa.String(length=256), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name', 'version', name='uq_transformers_name_version')
    )
    with op.batch_alter_table('transformers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transformers_name'), ['name'], unique=False)

    op.create_table('feature_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('set_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('ds', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('running', 'succeeded', 'quality_failed', 'failed', name='run_status', native_enum=False, length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rows', sa.BigInteger(), nullable=True),
    sa.Column('bytes', sa.BigInteger(), nullable=True),
    sa.Column('stats', sa.JSON(), nullable=True),
    sa.Column('checks', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('materialized', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['set_id'], ['feature_sets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('feature_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feature_runs_ds'), ['ds'], unique=False)
        batch_op.create_index(batch_op.f('ix_feature_runs_set_id'), ['set_id'], unique=False)

    op.create_table('feature_set_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('set_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('output_schema', sa.JSON(), nullable=False),
    sa.Column('sql_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['set_id'], ['feature_sets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('set_id', 'version', name='uq_feature_set_versions_set_version')
    )
    with op.batch_alter_table('feature_set_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feature_set_versions_set_id'), ['set_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feature_set_versions_sql_fingerprint'), ['sql_fingerprint'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('feature_set_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feature_set_versions_sql_fingerprint'))
        batch_op.drop_index(batch_op.f('ix_feature_set_versions_set_id'))

    op.drop_table('feature_set_versions')
    with op.batch_alter_table('feature_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feature_runs_set_id'))
        batch_op.drop_index(batch_op.f('ix_feature_runs_ds'))

    op.drop_table('feature_runs')
    with op.batch_alter_table('transformers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transformers_name'))

    op.drop_table('transformers')
    op.drop_table('feature_sets')
    with op.batch_alter_table('example_sets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_example_sets_name'))

    op.drop_table('example_sets')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_subject'))

    op.drop_table('alerts')
