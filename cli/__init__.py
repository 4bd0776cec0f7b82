"""The ``taskq`` command: ``run``, ``api``, ``worker``, ``migrate``, ``psql`` and the admin verbs.

The top of the house: it imports :mod:`api`, :mod:`worker` and :mod:`taskq`, and nothing imports
it. :mod:`cli.main` builds the parser; each subcommand is a module here (:mod:`cli.run`,
:mod:`cli.api`, :mod:`cli.worker`, :mod:`cli.admin`); the options every subcommand shares
(``--database-url``, ``--log-level``, ``--import``) are written once in :mod:`cli.options`, and
which database a command uses is decided in :mod:`cli.database`.
"""
