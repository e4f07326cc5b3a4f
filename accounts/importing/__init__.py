"""ERP imports: strict, all-or-nothing, streaming (SPEC §5, §6).

`sources` turns a CSV or XLSX file into numbered rows; `schemas` says what each kind's
columns mean and parses cells; `service` stages valid rows in a temporary table, checks
keys and references in the database, and upserts in one transaction.
"""
