"""ShopGo's database: typed SQLAlchemy 2 models, engines and sessions, Alembic migrations,
monthly partitions and the local PostgreSQL the tests start. Imports no other ShopGo package."""
