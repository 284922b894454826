"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 00:33:51.724352
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def _create_partitioned_purchase_lines() -> None:
    """History partitioned by month on PostgreSQL, so retention drops whole partitions."""
    op.execute(
        """
        CREATE TABLE purchase_lines (
            id BIGSERIAL NOT NULL,
            purchase_id BIGINT NOT NULL,
            member_id INTEGER,
            product_id INTEGER NOT NULL,
            quantity INTEGER NOT NULL,
            weight_g INTEGER,
            sales_minor INTEGER NOT NULL,
            discount_minor INTEGER NOT NULL,
            purchased_at TIMESTAMP WITH TIME ZONE NOT NULL,
            CONSTRAINT pk_purchase_lines PRIMARY KEY (id, purchased_at)
        ) PARTITION BY RANGE (purchased_at)
        """
    )
    # Rows outside every monthly partition land here until a partition is made for them.
    op.execute("CREATE TABLE purchase_lines_default PARTITION OF purchase_lines DEFAULT")
    op.execute("CREATE INDEX ix_purchase_lines_member_time ON purchase_lines (member_id, purchased_at)")
    op.execute("CREATE INDEX ix_purchase_lines_purchase ON purchase_lines (purchase_id)")
    op.execute("CREATE INDEX ix_purchase_lines_time ON purchase_lines (purchased_at)")


def upgrade() -> None:
    op.create_table('barcode_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('prefix', sa.String(length=4), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('item_digits', sa.Integer(), nullable=False),
    sa.Column('value_digits', sa.Integer(), nullable=False),
    sa.Column('value_check_digit', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('catalogue_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_barcode_rules'))
    )
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns'))
    )
    op.create_table('data_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_requests'))
    )
    with op.batch_alter_table('data_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_requests_member_id'), ['member_id'], unique=False)

    op.create_table('import_chunks',
    sa.Column('dataset', sa.String(length=40), nullable=False),
    sa.Column('chunk', sa.Integer(), nullable=False),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('dataset', 'chunk', name=op.f('pk_import_chunks'))
    )
    op.create_table('products',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('gtin', sa.String(length=14), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('department', sa.String(length=80), nullable=True),
    sa.Column('category', sa.String(length=80), nullable=True),
    sa.Column('brand', sa.String(length=80), nullable=True),
    sa.Column('package_size', sa.String(length=40), nullable=True),
    sa.Column('price_minor', sa.Integer(), nullable=False),
    sa.Column('member_price_minor', sa.Integer(), nullable=True),
    sa.Column('sold_by_weight', sa.Boolean(), nullable=False),
    sa.Column('plu', sa.String(length=6), nullable=True),
    sa.Column('min_age', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('catalogue_version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('gtin', name=op.f('uq_products_gtin')),
    sa.UniqueConstraint('plu', name=op.f('uq_products_plu'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_catalogue_version'), ['catalogue_version'], unique=False)
        batch_op.create_index(batch_op.f('ix_products_category'), ['category'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        _create_partitioned_purchase_lines()
    else:
        op.create_table('purchase_lines',
        sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False),
        sa.Column('purchase_id', sa.BigInteger(), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=True),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('weight_g', sa.Integer(), nullable=True),
        sa.Column('sales_minor', sa.Integer(), nullable=False),
        sa.Column('discount_minor', sa.Integer(), nullable=False),
        sa.Column('purchased_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_lines'))
        )
        with op.batch_alter_table('purchase_lines', schema=None) as batch_op:
            batch_op.create_index('ix_purchase_lines_member_time', ['member_id', 'purchased_at'], unique=False)
            batch_op.create_index('ix_purchase_lines_purchase', ['purchase_id'], unique=False)
            batch_op.create_index('ix_purchase_lines_time', ['purchased_at'], unique=False)

    op.create_table('site_state',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_site_state'))
    )
    op.create_table('stores',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stores'))
    )
    op.create_table('devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_devices_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_devices_token_hash'))
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_devices_store_id'), ['store_id'], unique=False)

    op.create_table('members',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('card_number', sa.String(length=14), nullable=False),
    sa.Column('store_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=True),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('consent_personalisation', sa.Boolean(), nullable=False),
    sa.Column('tier', sa.String(length=16), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_members_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members')),
    sa.UniqueConstraint('card_number', name=op.f('uq_members_card_number'))
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_members_store_id'), ['store_id'], unique=False)

    op.create_table('promotions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=80), nullable=True),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('member_only', sa.Boolean(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('catalogue_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_promotions_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promotions'))
    )
    with op.batch_alter_table('promotions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promotions_catalogue_version'), ['catalogue_version'], unique=False)
        batch_op.create_index(batch_op.f('ix_promotions_product_id'), ['product_id'], unique=False)
        batch_op.create_index('ix_promotions_window', ['starts_at', 'ends_at'], unique=False)

    op.create_table('purchases',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), nullable=False),
    sa.Column('store_id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('trip_id', sa.String(length=36), nullable=True),
    sa.Column('purchased_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('total_minor', sa.Integer(), nullable=False),
    sa.Column('discount_minor', sa.Integer(), nullable=False),
    sa.Column('points_awarded', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_purchases_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchases')),
    sa.UniqueConstraint('trip_id', name=op.f('uq_purchases_trip_id'))
    )
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.create_index('ix_purchases_member_time', ['member_id', 'purchased_at'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('store_id', sa.String(length=32), nullable=True),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_users_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reward_type', sa.String(length=16), nullable=False),
    sa.Column('reward_value', sa.Integer(), nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('max_redemptions', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_offers_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_offers_member_id_members')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_offers_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers'))
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index('ix_offers_member_window', ['member_id', 'valid_to'], unique=False)

    op.create_table('points_ledger',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('trip_id', sa.String(length=36), nullable=True),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('earned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_points_ledger_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_points_ledger'))
    )
    with op.batch_alter_table('points_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_points_ledger_member_id'), ['member_id'], unique=False)

    op.create_table('trips',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('store_id', sa.String(length=32), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handheld_total_minor', sa.Integer(), nullable=True),
    sa.Column('total_minor', sa.Integer(), nullable=True),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.Column('needs_help', sa.Boolean(), nullable=False),
    sa.Column('audit_required', sa.Boolean(), nullable=False),
    sa.Column('receipt', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_trips_device_id_devices')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_trips_member_id_members')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_trips_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trips'))
    )
    with op.batch_alter_table('trips', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trips_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trips_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trips_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_trips_store_id'), ['store_id'], unique=False)

    op.create_table('audits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trip_id', sa.String(length=36), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('store_id', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=120), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('findings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('mismatch_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_audits_member_id_members')),
    sa.ForeignKeyConstraint(['staff_user_id'], ['users.id'], name=op.f('fk_audits_staff_user_id_users')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_audits_store_id_stores')),
    sa.ForeignKeyConstraint(['trip_id'], ['trips.id'], name=op.f('fk_audits_trip_id_trips')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audits')),
    sa.UniqueConstraint('trip_id', name=op.f('uq_audits_trip_id'))
    )
    with op.batch_alter_table('audits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audits_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audits_store_id'), ['store_id'], unique=False)

    op.create_table('feedback',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('store_id', sa.String(length=32), nullable=False),
    sa.Column('trip_id', sa.String(length=36), nullable=True),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_feedback_member_id_members')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_feedback_product_id_products')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_feedback_store_id_stores')),
    sa.ForeignKeyConstraint(['trip_id'], ['trips.id'], name=op.f('fk_feedback_trip_id_trips')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback'))
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_store_id'), ['store_id'], unique=False)

    op.create_table('offer_redemptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('trip_id', sa.String(length=36), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('discount_minor', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_offer_redemptions_member_id_members')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_offer_redemptions_offer_id_offers')),
    sa.ForeignKeyConstraint(['trip_id'], ['trips.id'], name=op.f('fk_offer_redemptions_trip_id_trips')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offer_redemptions')),
    sa.UniqueConstraint('offer_id', 'trip_id', name=op.f('uq_offer_redemptions_offer_id_trip_id'))
    )
    with op.batch_alter_table('offer_redemptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offer_redemptions_member_id'), ['member_id'], unique=False)

    op.create_table('trip_events',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('trip_id', sa.String(length=36), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_trip_events_device_id_devices')),
    sa.ForeignKeyConstraint(['trip_id'], ['trips.id'], name=op.f('fk_trip_events_trip_id_trips')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trip_events')),
    sa.UniqueConstraint('device_id', 'seq', name=op.f('uq_trip_events_device_id_seq'))
    )
    with op.batch_alter_table('trip_events', schema=None) as batch_op:
        batch_op.create_index('ix_trip_events_trip_seq', ['trip_id', 'seq'], unique=False)




def downgrade() -> None:
    
    with op.batch_alter_table('trip_events', schema=None) as batch_op:
        batch_op.drop_index('ix_trip_events_trip_seq')

    op.drop_table('trip_events')
    with op.batch_alter_table('offer_redemptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offer_redemptions_member_id'))

    op.drop_table('offer_redemptions')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_store_id'))

    op.drop_table('feedback')
    with op.batch_alter_table('audits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audits_store_id'))
        batch_op.drop_index(batch_op.f('ix_audits_member_id'))

    op.drop_table('audits')
    with op.batch_alter_table('trips', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trips_store_id'))
        batch_op.drop_index(batch_op.f('ix_trips_status'))
        batch_op.drop_index(batch_op.f('ix_trips_member_id'))
        batch_op.drop_index(batch_op.f('ix_trips_device_id'))

    op.drop_table('trips')
    with op.batch_alter_table('points_ledger', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_points_ledger_member_id'))

    op.drop_table('points_ledger')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index('ix_offers_member_window')

    op.drop_table('offers')
    op.drop_table('users')
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.drop_index('ix_purchases_member_time')

    op.drop_table('purchases')
    with op.batch_alter_table('promotions', schema=None) as batch_op:
        batch_op.drop_index('ix_promotions_window')
        batch_op.drop_index(batch_op.f('ix_promotions_product_id'))
        batch_op.drop_index(batch_op.f('ix_promotions_catalogue_version'))

    op.drop_table('promotions')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_members_store_id'))

    op.drop_table('members')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devices_store_id'))

    op.drop_table('devices')
    op.drop_table('stores')
    op.drop_table('site_state')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE purchase_lines CASCADE")
    else:
        with op.batch_alter_table('purchase_lines', schema=None) as batch_op:
            batch_op.drop_index('ix_purchase_lines_time')
            batch_op.drop_index('ix_purchase_lines_purchase')
            batch_op.drop_index('ix_purchase_lines_member_time')
        op.drop_table('purchase_lines')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_category'))
        batch_op.drop_index(batch_op.f('ix_products_catalogue_version'))

    op.drop_table('products')
    op.drop_table('import_chunks')
    with op.batch_alter_table('data_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_requests_member_id'))

    op.drop_table('data_requests')
    op.drop_table('campaigns')
    op.drop_table('barcode_rules')

