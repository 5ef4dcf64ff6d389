"""The SQL of a set: parsed (one SELECT, nothing else), rendered for a date, fingerprinted."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

import jinja2
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from mlplat.errors import ValidationError

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


def template_vars(ds: date) -> dict[str, str]:
    """What a set's SQL may use: ``{{ ds }}`` and friends (Airflow's names)."""
    return {
        "ds": ds.isoformat(),
        "ds_nodash": ds.strftime("%Y%m%d"),
        "prev_ds": (ds - timedelta(days=1)).isoformat(),
        "next_ds": (ds + timedelta(days=1)).isoformat(),
        "ds_start": f"{ds.isoformat()} 00:00:00",
        "ds_end": f"{(ds + timedelta(days=1)).isoformat()} 00:00:00",
    }


def render(sql: str, ds: date, name: str = "set") -> str:
    try:
        return _ENV.from_string(sql).render(**template_vars(ds))
    except jinja2.UndefinedError as exc:
        raise ValidationError(
            f"{name}: the SQL uses an unknown template variable ({exc.message}); "
            f"available: {', '.join(template_vars(ds))}"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise ValidationError(f"{name}: template error in the SQL, line {exc.lineno}: {exc.message}") from None


@dataclass(frozen=True)
class ParsedQuery:
    tables: list[str]  # lake tables it reads (CTE names excluded)
    fingerprint: str  # of the normalized SQL: equal for equivalent formatting


def parse(sql: str, name: str = "set") -> ParsedQuery:
    """Check that ``sql`` is exactly one SELECT and find the tables it reads."""
    rendered = render(sql, date(2000, 1, 1), name)
    try:
        statements = [s for s in sqlglot.parse(rendered, read="spark") if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
        raise ValidationError(f"{name}: the SQL does not parse{where}: {first.get('description', exc)}") from None
    if len(statements) != 1:
        raise ValidationError(f"{name}: the SQL must be one SELECT statement, found {len(statements)} statements")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        kind = type(statement).__name__.upper()
        raise ValidationError(f"{name}: the SQL must be a SELECT; {kind} statements are not allowed")
    for node in statement.walk():
        if isinstance(node, (exp.Insert, exp.Delete, exp.Update, exp.Create, exp.Drop, exp.Merge, exp.Alter)):
            raise ValidationError(f"{name}: the SQL must only read; it contains {type(node).__name__.upper()}")
    ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    tables = sorted({t.name for t in statement.find_all(exp.Table) if t.name and t.name not in ctes})
    normalized = statement.sql(dialect="spark", normalize=True, pretty=False)
    return ParsedQuery(tables=tables, fingerprint=hashlib.sha256(normalized.lower().encode()).hexdigest())
