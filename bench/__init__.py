"""taskq's benchmarks: ``python -m bench`` (``make bench``), ``--quick`` for a short run.

One throwaway PostgreSQL server, the same settings for everyone, and in the same run: the floor
of PostgreSQL itself (a minimal SQL queue driven by pgbench), taskq, its peers (PgQueuer and
Procrastinate, installed from PyPI into their own virtual environment) and the growth figures.
See bench/README.md.
"""
