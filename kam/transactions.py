"""Transactions whose PostgreSQL settings last exactly as long as they do."""

from contextlib import contextmanager

from django.db import connection, transaction


def own_transaction() -> bool:
    """Whether `transaction.atomic()` entered now starts a transaction of its own: not
    inside a caller's atomic block, nor with autocommit turned off (then the caller's
    transaction goes on after it)."""
    return not connection.in_atomic_block and connection.get_autocommit()


@contextmanager
def tuned_atomic(**settings: str):
    """`transaction.atomic()` yielding a cursor, with PostgreSQL `settings` (name=value) set
    for that transaction only (SET LOCAL) when it is its own (own_transaction). In a
    caller's transaction they would outlast it, so they are left out there: they tune
    speed, never results."""
    tuned = connection.vendor == "postgresql" and own_transaction()
    with transaction.atomic(), connection.cursor() as cursor:
        for name, value in settings.items() if tuned else ():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        yield cursor
