"""Projections and the API's own tables: SQLAlchemy models, Alembic migrations, the projector."""
