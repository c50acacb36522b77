"""Statements compiled once for one dialect and run on the driver's cursor (``Database.run``).

The job path runs a handful of statements several times per job; SQLAlchemy's per-statement work
(cache key, compiled-statement lookup, execution context, result object) costs several times what
SQLite takes to run them. A ``Prepared`` statement keeps what that work produces for a given Core
statement: its SQL, its parameter order, and the type conversions SQLAlchemy would apply.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import Select

_Processor = Callable[[Any], Any]


@dataclass
class Prepared:
    """A Core statement compiled once for one dialect: its SQL, its parameters in order, and the
    conversions SQLAlchemy would apply to the values going in and the columns coming out."""

    sql: str
    names: tuple[str, ...]  # the bind parameters, in the order a positional driver takes them
    positional: bool
    binds: tuple[tuple[str, _Processor], ...]  # parameters whose value is converted first (JSON, dates)
    fixed: tuple[tuple[str, Any], ...]  # parameters holding a value of the statement itself (SET status='running')
    columns: tuple[str, ...]  # the result's column keys (empty: no rows come back)
    types: tuple[Any, ...]  # the result columns' types, adapted to the dialect
    dialect: Dialect
    results: tuple[_Processor | None, ...] | None = None  # known once the driver has described a result
    _converted: list[tuple[str, _Processor]] | None = None  # the result columns ``results`` converts

    @classmethod
    def compile(cls, statement: Select[Any] | UpdateBase, dialect: Dialect) -> Prepared:
        compiled = statement.compile(dialect=dialect)
        if compiled.escaped_bind_names:  # never with the plain names the repository uses
            raise ValueError(f"bind names needing escapes are not supported: {dict(compiled.escaped_bind_names)}")
        binds, fixed = [], []
        for name, param in compiled.binds.items():
            process = param.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binds.append((name, process))
            if not param.required:
                fixed.append((name, param.effective_value))
        exported = list(statement.exported_columns)
        positional = compiled.positiontup is not None
        return cls(
            sql=compiled.string,
            names=tuple(compiled.positiontup or compiled.binds),
            positional=positional,
            binds=tuple(binds),
            fixed=tuple(fixed),
            columns=tuple(column.key for column in exported),  # type: ignore[attr-defined,misc]
            types=tuple(column.type.dialect_impl(dialect) for column in exported),
            dialect=dialect,
        )

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        """The driver's parameters for ``values`` (every bind name must be present; others are ignored)."""
        converted = {**self._fixed, **values}
        for name, process in self.binds:
            converted[name] = process(converted[name])
        if self.positional:
            return self._in_order(converted)
        return {name: converted[name] for name in self.names}

    @cached_property
    def _fixed(self) -> dict[str, Any]:
        return dict(self.fixed)

    @cached_property
    def _in_order(self) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
        """The values of ``names`` in order, as a tuple (a C loop: the insert binds fifty of them)."""
        if not self.names:
            return lambda _values: ()
        pick = operator.itemgetter(*self.names)
        if len(self.names) == 1:
            return lambda values: (pick(values),)
        return pick  # type: ignore[no-any-return]

    def rows(self, cursor: Any) -> list[dict[str, Any]]:
        """The cursor's rows as {column key: converted value} (some conversions depend on the driver's
        type codes, so they are chosen at the first result)."""
        raw = cursor.fetchall()
        results = self.results
        if results is None:
            codes = [column[1] for column in cursor.description]
            results = self.results = tuple(
                kind.result_processor(self.dialect, code) for kind, code in zip(self.types, codes, strict=True)
            )
        converted = self._converted
        if converted is None:
            converted = self._converted = [
                (key, process) for key, process in zip(self.columns, results, strict=True) if process is not None
            ]
        rows = []
        for row in raw:
            values = dict(zip(self.columns, row, strict=True))
            for key, process in converted:
                value = values[key]
                if value is not None:
                    values[key] = process(value)
            rows.append(values)
        return rows
