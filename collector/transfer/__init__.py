"""Moving history in and out: imports from Plausible's CSV export and Umami's database, export in Plausible's format.

Every import becomes aggregate rows only, added in one transaction and recorded in the import
ledger (``ImportStore``), so it can be refused, replaced or trusted not to be half-done. See
docs/import.md for each source's mapping.
"""
