"""kam_sum(bigint): an exact bigint sum that stays a bigint (PostgreSQL).

PostgreSQL's SUM(bigint) accumulates in 128 bits and returns numeric, which cost a sixth of
the contribution run's aggregation (bench/contribution.py). kam_sum adds with the bigint
`+` (int8pl): exact, and a running sum past 2^63 cents (92 quadrillion yuan) raises "bigint
out of range" instead of coming out wrong (so may a group whose total fits, if a partial sum
on the way does not: no book of real money comes near). NULLs are skipped and an all-NULL group is NULL, as
with SUM. SQLite's SUM of integers is already an integer that raises on overflow.
"""

from django.db import migrations

CREATE = """
CREATE AGGREGATE kam_sum(bigint) (
    SFUNC = int8pl, STYPE = bigint, COMBINEFUNC = int8pl, PARALLEL = SAFE
)"""
DROP = "DROP AGGREGATE IF EXISTS kam_sum(bigint)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("tiers", "0003_foreign_keys_per_statement")]

    operations = [migrations.RunPython(create, drop)]
