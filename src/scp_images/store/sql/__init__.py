"""SQLAlchemy Core tables, repositories and migrations; the same schema on SQLite and PostgreSQL."""
