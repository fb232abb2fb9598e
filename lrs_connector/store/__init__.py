"""Storage adapter: tables, migrations and the repositories the services write through."""
