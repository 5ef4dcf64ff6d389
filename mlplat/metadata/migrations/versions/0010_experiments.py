"""Managed Experiments: experiments, their phases, status changes, bandit weight history and layers.

Revision ID: 0010
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

STATUS = sa.Enum('draft', 'running', 'stopped', 'concluded', name='experiment_status', native_enum=False, length=16)


def _experiment_fk() -> "sa.Column[str]":
    return sa.Column('experiment', sa.String(length=64), nullable=False)


def upgrade() -> None:
    op.create_table('experiments',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('team', sa.String(length=128), nullable=False),
    sa.Column('status', STATUS, nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('phase', sa.Integer(), nullable=False),
    sa.Column('weights', sa.JSON(), nullable=False),
    sa.Column('layer', sa.String(length=64), nullable=True),
    sa.Column('layer_start', sa.Float(), nullable=True),
    sa.Column('layer_end', sa.Float(), nullable=True),
    sa.Column('conclusion', sa.JSON(), nullable=True),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_experiments_team'), ['team'], unique=False)
        batch_op.create_index(batch_op.f('ix_experiments_layer'), ['layer'], unique=False)
    op.create_table('experiment_phases',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    _experiment_fk(),
    sa.Column('phase', sa.Integer(), nullable=False),
    sa.Column('arms', sa.JSON(), nullable=False),
    sa.Column('weights', sa.JSON(), nullable=False),
    sa.Column('seed', sa.String(length=200), nullable=False),
    sa.Column('coverage', sa.Float(), nullable=False),
    sa.Column('targeting', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['experiment'], ['experiments.name'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('experiment', 'phase', name='uq_experiment_phases_phase')
    )
    op.create_table('experiment_status_changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    _experiment_fk(),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('phase', sa.Integer(), nullable=False),
    sa.Column('by', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['experiment'], ['experiments.name'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('experiment_bandit_weights',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    _experiment_fk(),
    sa.Column('phase', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('weights', sa.JSON(), nullable=False),
    sa.Column('trials', sa.JSON(), nullable=False),
    sa.Column('successes', sa.JSON(), nullable=False),
    sa.Column('chance_to_be_best', sa.JSON(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['experiment'], ['experiments.name'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    for table in ('experiment_phases', 'experiment_status_changes', 'experiment_bandit_weights'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f'ix_{table}_experiment'), ['experiment'], unique=False)
    op.create_table('experiment_layers',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('experiment_layers')
    for table in ('experiment_bandit_weights', 'experiment_status_changes', 'experiment_phases'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_experiment'))
        op.drop_table(table)
    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_experiments_layer'))
        batch_op.drop_index(batch_op.f('ix_experiments_team'))
    op.drop_table('experiments')
