"""PostgreSQL server fixture (initdb/pg_ctl as a non-root user)."""
