"""Alembic environment of the warehouse; shipped inside the `load` package."""
