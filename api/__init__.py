"""The taskq REST API: a Litestar app of thin routes over the ``taskq.*`` SQL functions."""

from api.app import create_app

__all__ = ["create_app"]
