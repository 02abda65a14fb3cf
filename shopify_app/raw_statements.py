"""Core statements run on the DBAPI cursor itself, their values converted by the columns' own SQLAlchemy processors.

For the few hot statements where SQLAlchemy's Core execute (cache key, execution context,
result object) cost several times what the database spent on the SQL (issue 19 session 32
part W): the statement is compiled once per dialect, values go through the same bind
processors Core would use and rows through the same result processors, so what is stored
and read is what Core would store and read. The transaction, when there is one, stays
SQLAlchemy's: these run on its connection. `before_cursor_execute` listeners do not see them.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

Processor = Callable[[Any], Any] | None


def bind_processors(types: Iterable, dialect) -> tuple[Processor, ...]:
    """Each type's bind processor for the dialect (None: the value goes to the driver as it is)."""
    return tuple(type_.dialect_impl(dialect).bind_processor(dialect) for type_ in types)


def result_processors(types: Iterable, dialect) -> tuple[Processor, ...]:
    """Each type's result processor for the dialect (None: the driver's value is kept)."""
    return tuple(type_.dialect_impl(dialect).result_processor(dialect, None) for type_ in types)


def processed(processors: Sequence[Processor], values: Iterable) -> list:
    """`values` through their processors, pairwise."""
    return [process(value) if process is not None else value for process, value in zip(processors, values)]


def run(dbapi_connection, text: str, parameters, fetch: Callable | None = None):
    """Execute on a cursor of the DBAPI connection; `fetch(cursor)`'s answer (None without one)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(text, parameters)
        return fetch(cursor) if fetch is not None else None
    finally:
        cursor.close()


class RawStatement:
    """One Core statement compiled once for a dialect: its text, its parameters bound like Core's, its rows processed like Core's."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        if getattr(compiled, "literal_execute_params", None) or getattr(compiled, "post_compile_params", None):
            raise ValueError("a statement rendered again at each execution (expanding or literal_execute) cannot be compiled once")
        self.text = compiled.string
        self.positional = compiled.positional
        # The names the text uses (compiled.binds also keys an anonymous bind by its internal key).
        self.names = tuple(compiled.positiontup) if compiled.positional else tuple(dict.fromkeys(compiled.bind_names.values()))
        binds = [compiled.binds[name] for name in self.names]
        # Keyed by the compiled name (an anonymous bind's key is not its name: `priority == 5` binds as priority_1).
        self._defaults = {name: bind.effective_value for name, bind in zip(self.names, binds) if not bind.required}
        self._binds = bind_processors((bind.type for bind in binds), dialect)
        columns = statement.selected_columns if getattr(statement, "is_select", False) else getattr(statement, "_returning", ())
        self.results = result_processors((column.type for column in columns), dialect)

    def parameters(self, values: Mapping[str, Any]):
        """The driver's parameters for `values` (a statement's own bound values filled in)."""
        ordered = processed(self._binds, (values[name] if name in values else self._defaults[name] for name in self.names))
        return ordered if self.positional else dict(zip(self.names, ordered))

    def row(self, raw: Sequence | None) -> list | None:
        """A fetched row's values as Core would give them (None stays None)."""
        return None if raw is None else processed(self.results, raw)

    def first(self, dbapi_connection, values: Mapping[str, Any]) -> list | None:
        """The first row's values, None without a row."""
        return self.row(run(dbapi_connection, self.text, self.parameters(values), _fetchone))

    def execute(self, dbapi_connection, values: Mapping[str, Any]) -> None:
        """Run it for its effect."""
        run(dbapi_connection, self.text, self.parameters(values))


def _fetchone(cursor):
    return cursor.fetchone()


def dbapi_connection(connection):
    """The DBAPI connection under a SQLAlchemy Connection (its transaction, if begun, is the one the raw statement joins)."""
    return connection.connection.dbapi_connection
