"""RawStatement (one Core statement compiled once) binds a statement's own literal values as Core does."""
from __future__ import annotations

import sqlite3

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from shopify_app.raw_statements import RawStatement
from shopify_app.suppliers.models import Supplier


def test_a_statement_with_a_literal_value_binds_it_under_its_compiled_name():
    statement = select(Supplier.id).where(Supplier.id == bindparam("id"), Supplier.priority == 5)
    for dialect in (sqlite.dialect(), postgresql.psycopg.dialect()):
        parameters = RawStatement(statement, dialect).parameters({"id": 3})
        values = list(parameters) if isinstance(parameters, (list, tuple)) else list(parameters.values())
        assert sorted(values) == [3, 5], (dialect.name, parameters)


def test_the_literal_value_selects_the_rows_core_would():
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE suppliers (id INTEGER PRIMARY KEY, priority INTEGER)")
    connection.executemany("INSERT INTO suppliers (id, priority) VALUES (?, ?)", [(1, 5), (2, 7), (3, 5)])
    statement = select(Supplier.id).where(Supplier.id >= bindparam("id"), Supplier.priority == 5)
    raw = RawStatement(statement, sqlite.dialect())
    assert raw.first(connection, {"id": 2}) == [3]
