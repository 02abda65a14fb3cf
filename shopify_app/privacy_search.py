"""Finding one customer's personal data anywhere: every table, every text and JSON column, nested payloads.

Nothing here lists tables by hand. The tables are our mapped models plus whatever else the
live database holds (a table added later is covered without code changes); a table belongs
to a shop through its `shop_domain` column, `shops.domain`, or a foreign key chain to such a
table; a row is the customer's through a foreign key chain to their orders (or a registered
link, e.g. an inbox payload naming their order). Elsewhere a row is examined when a text or
JSON column contains one of the customer's identifying values (email, phone, full name,
street address), searched through dicts, lists and JSON kept inside strings.

Redaction replaces personal values with a marker and keeps the structure, ids, SKUs,
quantities and amounts; within a row that is not the customer's, only the customer's values
(and the dicts that hold them) are touched, never another customer's.
"""
from __future__ import annotations

import json
import re
import secrets
import unicodedata
from urllib.parse import quote, quote_plus
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from sqlalchemy import JSON, MetaData, String, Table, Text, and_, case, cast, false, func, inspect, or_, select, true
from sqlalchemy.orm import Session

from .bounds import json_or_none
from .db import UNICODE_LOWER
from sqlalchemy.sql.elements import ColumnElement

REDACTED = "[redacted]"
# Keys whose scalar value is personal wherever it appears in a dict about the customer (keys are
# compared normalised: `postalCode`, `postal-code` and `postal_code` are one key; see _norm_key).
# Shopify's names, Printful v2's recipient (name, company, address1/2, city, state_code/name, zip,
# phone, email, tax_number) and the REST presets' (ship_to.street1/2, postcode, region...).
ALWAYS_PERSONAL_KEYS = frozenset(
    {
        "email", "contact_email", "email_address", "mail", "phone", "phone_number", "telephone", "tel", "mobile",
        "first_name", "last_name", "full_name", "fullname", "recipient_name", "customer_name",
        "address1", "address2", "address_1", "address_2", "address_line1", "address_line2", "address_line_1", "address_line_2",
        "street", "street1", "street2", "street_1", "street_2", "street_address", "house_number",
        "city", "zip", "zip_code", "zipcode", "postcode", "post_code", "postal_code", "postalcode", "tax_number",
        "latitude", "longitude", "browser_ip", "note", "customer_note", "reason_note", "customer_locale",
        "accepts_marketing",
    }
)
# Sub-objects about the person as a whole: every scalar inside is personal (ids and country codes excepted).
PERSONAL_OBJECTS = frozenset(
    {
        "customer", "billing_address", "shipping_address", "default_address", "addresses", "client_details",
        "destination", "recipient", "note_attributes", "ship_to", "shipto", "bill_to", "sold_to", "deliver_to",
        "delivery_address", "consignee", "receiver", "buyer",
    }
)
# A dict with any of these keys is an address or a person, whatever its key.
ADDRESS_MARKERS = frozenset(
    {
        "address1", "address2", "first_name", "last_name", "zip", "full_name", "fullname", "street", "street1", "street2",
        "postcode", "postal_code", "zip_code", "address_line1", "address_line_1",
    }
)
# Never personal: what keeps the books correct.
ID_KEYS = frozenset({"id", "admin_graphql_api_id", "customer_id", "order_id", "sku", "quantity"})
# Kept inside a person or address object too: country codes, amounts, SKUs, quantities, references.
KEPT_KEYS = ID_KEYS | frozenset(
    {
        "country_code", "country_iso", "currency", "price", "retail_price", "amount", "total", "total_price", "cost",
        "supplier_sku", "qty", "external_id", "line_ref", "variant_id", "product_id",
    }
)
# Tables that are not the app's (job queues of procrastinate, Alembic's version).
FOREIGN_TABLE_PREFIXES = ("procrastinate", "alembic_")
MIN_STRONG = 5  # shorter values identify nobody and would hit unrelated text
MIN_WEAK = 3
_PHONE_SEP = r"(?:[\s().-]|%20|%2[dD]|%28|%29|\+)*"  # written or percent-encoded separators


def _norm_key(key: Any) -> str:
    """`postalCode`, `Postal-Code`, `postal code` -> `postal_code`."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(key))
    return re.sub(r"[\s-]+", "_", text).lower()


def _is_kept(key: str, value: Any) -> bool:
    """Ids, amounts, SKUs, and a country given as a code, stay."""
    if key in KEPT_KEYS:
        return True
    return key in ("country", "country_name") and isinstance(value, str) and len(value.strip()) <= 3


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def spellings(value: str) -> set[str]:
    """The ways one value is written elsewhere: as given, accents stripped, without spaces, percent-encoded (of each)."""
    base = {value, unicodedata.normalize("NFC", value), _strip_accents(value)}
    base |= {re.sub(r"\s+", "", v) for v in base}
    encoded = set()
    for v in base:
        encoded |= {quote(v, safe=""), quote_plus(v, safe=""), quote(v), quote_plus(v)}
    return base | encoded


def text_lower(session: Session):
    """A lower() for the pre-filter that folds Unicode on both databases (on SQLite, db.py's function on every connection)."""
    return getattr(func, UNICODE_LOWER) if session.get_bind().dialect.name == "sqlite" else func.lower


def _phone_pattern(digits: str) -> str:
    core = digits[-10:]
    before = r"(?:(?<!\d)|(?<=%20)|(?<=%2[bB]))"  # `%20613...` is an encoded space, not a digit before the number
    return before + rf"(?:(?:\+|%2[bB])?\d{{1,3}}{_PHONE_SEP})?" + _PHONE_SEP.join(core) + r"(?!\d)"


@dataclass(frozen=True)
class Needles:
    """A customer's identifying values (strong: enough alone) and the weaker ones replaced only next to them."""

    strong: frozenset[str] = frozenset()
    weak: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()  # digits only
    customer_ids: frozenset[str] = frozenset()

    @classmethod
    def build(cls, strong: Iterable[Any], weak: Iterable[Any], phones: Iterable[Any], customer_ids: Iterable[Any]) -> "Needles":
        """Clean, deduplicated needles (too short or redacted values dropped)."""
        def clean(values, minimum):
            out = set()
            for value in values:
                if isinstance(value, str) and REDACTED not in value:
                    out |= {v for v in spellings(value.strip()) if len(v) >= minimum}
            return out

        digits = {re.sub(r"\D", "", p) for p in phones if isinstance(p, str)}
        strong_set = clean(strong, MIN_STRONG)
        weak_set = clean(weak, MIN_WEAK) - strong_set
        return cls(frozenset(strong_set), frozenset(weak_set), frozenset(d for d in digits if len(d) >= 7),
                   frozenset(str(i) for i in customer_ids if i))

    @property
    def _strong_re(self) -> re.Pattern | None:
        parts = [re.escape(s) for s in sorted(self.strong, key=len, reverse=True)] + [_phone_pattern(d) for d in sorted(self.phones)]
        return re.compile("|".join(parts), re.IGNORECASE) if parts else None

    @property
    def _weak_re(self) -> re.Pattern | None:
        if not self.weak:
            return None
        alternatives = "|".join(re.escape(s) for s in sorted(self.weak, key=len, reverse=True))
        return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    def __post_init__(self) -> None:
        # Compiled once; frozen dataclass, so through object.__setattr__.
        object.__setattr__(self, "strong_re", self._strong_re)
        object.__setattr__(self, "weak_re", self._weak_re)

    def mentioned_in(self, text: str) -> bool:
        """Whether the text holds one of the strong values."""
        return bool(self.strong_re and self.strong_re.search(text))

    def like_terms(self) -> set[str]:
        """Lower-case substrings to look for in SQL: each value as written, JSON-escaped, and escaped twice (JSON in a JSON string).

        JSON escapes (`\\u00cb`) survive lower(), so the escaped forms are of the value in each case it is likely written in.
        """
        terms = set()
        for value in self.strong | self.phones:
            terms.add(value.lower())
            for cased in {value, value.lower(), value.upper(), value.title()}:
                once = json.dumps(cased)[1:-1]
                terms |= {once.lower(), json.dumps(once)[1:-1].lower()}
        return terms


@dataclass
class Redactor:
    """Walks a value, replacing the customer's personal data; `found` lists (path, original) of what it replaced."""

    needles: Needles
    marker: str = REDACTED
    found: list[tuple[str, Any]] = field(default_factory=list)

    def value(self, value: Any, path: str, about: bool = False, personal: bool = False) -> Any:
        """The redacted copy; `about`: the value is known to be the customer's; `personal`: inside a person/address object."""
        if isinstance(value, dict):
            return self._dict(value, path, about, personal)
        if isinstance(value, list):
            return [self.value(item, f"{path}[{i}]", about, personal) for i, item in enumerate(value)]
        if isinstance(value, str):
            return self._string(value, path, about)
        return value

    def _dict(self, data: dict, path: str, about: bool, personal: bool) -> dict:
        keys = {key: _norm_key(key) for key in data}
        personal = personal or bool(ADDRESS_MARKERS & set(keys.values()))
        about = about or self._names_customer(data)
        out = {}
        for key, item in data.items():
            item_path = f"{path}.{key}" if path else str(key)
            norm = keys[key]
            if isinstance(item, (dict, list)):
                child_about = about or (norm == "customer" and isinstance(item, dict) and self._is_customer(item.get("id")))
                out[key] = self.value(item, item_path, child_about, personal or norm in PERSONAL_OBJECTS)
            elif (about and item is not None and not _is_kept(norm, item)
                  and (norm in ALWAYS_PERSONAL_KEYS or personal or (norm in PERSONAL_OBJECTS and isinstance(item, str)))
                  and not _is_redacted(item)):
                self.found.append((item_path, item))
                out[key] = self.marker
            else:
                out[key] = self.value(item, item_path, about, personal)
        return out

    def _names_customer(self, data: dict) -> bool:
        """A dict directly holding one of the strong values, or the customer's id as its customer_id."""
        if self._is_customer(data.get("customer_id")):
            return True
        return any(isinstance(v, str) and not _looks_like_json(v) and self.needles.mentioned_in(v) for v in data.values())

    def _is_customer(self, value: Any) -> bool:
        if value is None or not self.needles.customer_ids:
            return False
        text = str(value)
        return (text.rsplit("/", 1)[-1] if text.startswith("gid://") else text) in self.needles.customer_ids

    def _string(self, text: str, path: str, about: bool) -> str:
        if _looks_like_json(text):
            parsed = json_or_none(text)
            if isinstance(parsed, (dict, list)):
                before = len(self.found)
                try:
                    redacted = self.value(parsed, path, about)
                    return json.dumps(redacted) if len(self.found) > before else text
                except RecursionError:  # nested deeper than the walk goes (any text a merchant typed can be such JSON): redacted as text below
                    del self.found[before:]
        out, hits = (self.needles.strong_re.subn(self.marker, text) if self.needles.strong_re else (text, 0))
        if (hits or about) and self.needles.weak_re is not None:
            out = self.needles.weak_re.sub(self.marker, out)
        if out != text:
            self.found.append((path, text))
        return out


def _is_redacted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("[redacted")


def _looks_like_json(text: str) -> bool:
    stripped = text.lstrip()[:1]
    return stripped in ("{", "[")


# --- tables ---------------------------------------------------------------------------

def app_tables(session: Session) -> list[Table]:
    """Every table of the app: the mapped models, then any other table the live database holds, children before parents last."""
    from . import all_models

    tables = list(all_models.Base.metadata.sorted_tables)
    known = {table.name for table in tables}
    live = inspect(session.connection()).get_table_names()
    missing = [name for name in live if name not in known and not name.startswith(FOREIGN_TABLE_PREFIXES)]
    if missing:
        reflected = MetaData()
        reflected.reflect(bind=session.connection(), only=missing)
        tables += [table for table in reflected.sorted_tables if table.name in missing]
    return tables


def text_columns(table: Table) -> list:
    """Columns that can hold personal text: strings, text, JSON (encrypted blobs cannot)."""
    return [column for column in table.columns if isinstance(column.type, (String, Text, JSON)) and not column.info.get("codes_only")]


def unique_columns(table: Table) -> set[str]:
    """Columns under a unique constraint or index (a redacted value there must stay unique)."""
    names = {column.name for column in table.columns if column.unique}
    for constraint in table.constraints:
        if constraint.__class__.__name__ == "UniqueConstraint":
            names |= {column.name for column in constraint.columns}
    for index in table.indexes:
        if index.unique:
            names |= {column.name for column in index.columns if hasattr(column, "name")}
    return names


def _via_foreign_keys(table: Table, root: Callable[[Table], ColumnElement | None], seen: frozenset[str]) -> ColumnElement | None:
    """Rows of `table` linked through a foreign key chain to rows `root` selects (non-nullable links first)."""
    found = root(table)
    if found is not None:
        return found
    links = []
    for fk in table.foreign_keys:
        parent = fk.column.table
        if parent.name in seen or parent.name == table.name:
            continue
        parent_rows = _via_foreign_keys(parent, root, seen | {table.name})
        if parent_rows is not None:
            links.append((fk.parent.nullable, fk.parent.in_(select(fk.column).where(parent_rows))))
    chosen = [cond for nullable, cond in links if not nullable] or [cond for _, cond in links]
    return or_(*chosen) if chosen else None


def shop_rows(table: Table, shop_domain: str) -> ColumnElement | None:
    """The shop's rows of a table, or None when the table is not per shop."""

    def root(t: Table):
        if "shop_domain" in t.c:
            return t.c.shop_domain == shop_domain
        if t.name == "shops" and "domain" in t.c:
            return t.c.domain == shop_domain
        return None

    return _via_foreign_keys(table, root, frozenset())


def rows_under(table: Table, root_table: str, ids: Iterable[int], *, others: bool = False) -> ColumnElement | None:
    """Rows of `table` that are, or hang by foreign keys from, these rows of `root_table` (with `others`: from any other row of it)."""
    ids = list(ids)

    def root(t: Table):
        if t.name == root_table:
            if others:
                return t.c.id.not_in(ids) if ids else true()
            return t.c.id.in_(ids) if ids else false()
        return None

    return _via_foreign_keys(table, root, frozenset())


def shop_mention(shop_domain: str) -> re.Pattern:
    """The shop's domain as a whole name inside text (not `other-demo.myshopify.com` for `demo.myshopify.com`)."""
    return re.compile(rf"(?<![A-Za-z0-9.-]){re.escape(shop_domain)}(?![A-Za-z0-9-])", re.IGNORECASE)


# --- the sweep ------------------------------------------------------------------------

@dataclass
class TableLinks:
    """How a table's rows are known to be the customer's: an SQL condition, and/or a check on the row in Python."""

    sql: ColumnElement | None = None
    hints: tuple[str, ...] = ()  # substrings that make a row worth the Python check
    check: Callable[[dict], bool] | None = None
    # Rows that are another customer's (their order's): the customer's values there are the
    # other order's record (a gift's recipient, a shared address) and are left alone.
    others_sql: ColumnElement | None = None
    others_check: Callable[[dict], bool] | None = None


@dataclass
class SweepResult:
    """What a sweep found and changed, per table."""

    found: dict[str, list[dict]] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)


def sweep(
    session: Session,
    shop_domain: str,
    needles: Needles,
    links: dict[str, TableLinks],
    *,
    write: bool,
    skip_row: Callable[[str, dict], bool] | None = None,
    only_tables: set[str] | None = None,
    tables: list[Table] | None = None,
) -> SweepResult:
    """Look through every per-shop table (`tables`, default app_tables) for the customer's data; redact it when `write`."""
    result = SweepResult()
    session.flush()
    lower = text_lower(session)
    base_terms = needles.like_terms()
    for table in tables if tables is not None else app_tables(session):
        if only_tables is not None and table.name not in only_tables:
            continue
        scope = shop_rows(table, shop_domain)
        columns = text_columns(table)
        if scope is None or not columns or not table.primary_key.columns:
            continue
        link = links.get(table.name) or TableLinks()
        terms = sorted(base_terms | {h.lower() for h in link.hints})
        matches = [lower(cast(column, Text)).contains(term, autoescape=True) for column in columns for term in terms]
        linked_sql = link.sql if link.sql is not None else false()
        if not matches and link.sql is None:
            continue
        pk = list(table.primary_key.columns)
        pk_names = {c.name for c in pk}
        statement = select(*pk, *[c for c in columns if c.name not in pk_names], case((linked_sql, true()), else_=false()).label("_linked"))
        # CASE, not NOT: a NULL foreign key must count as "not another's", where NOT (NULL IN ...) is NULL.
        found_by_value = or_(*matches) if matches else false()
        if link.others_sql is not None:
            found_by_value = and_(found_by_value, case((link.others_sql, 1), else_=0) == 0)
        statement = statement.where(scope, or_(linked_sql, found_by_value))
        unique = unique_columns(table)
        for row in session.execute(statement).mappings().all():
            values = dict(row)
            if skip_row is not None and skip_row(table.name, values):
                continue
            about = bool(values.pop("_linked")) or (link.check is not None and link.check(values))
            if not about and link.others_check is not None and link.others_check(values):
                continue
            changes, found = _redact_row(table, values, columns, needles, about, unique)
            if not found:
                continue
            key = {c.name: values[c.name] for c in pk}
            result.found.setdefault(table.name, []).append({"row": key, "found": dict(found)})
            if write and changes:
                session.execute(table.update().where(and_(*[c == values[c.name] for c in pk])).values(**changes))
                result.changed[table.name] = result.changed.get(table.name, 0) + 1
    if write:
        session.expire_all()  # ORM objects loaded before must not hide what the sweep wrote
    return result


def _redact_row(table: Table, values: dict, columns, needles: Needles, about: bool, unique: set[str]):
    changes: dict[str, Any] = {}
    found: list[tuple[str, Any]] = []
    for column in columns:
        original = values.get(column.name)
        if original is None:
            continue
        marker = f"[redacted-{secrets.token_hex(4)}]" if column.name in unique else REDACTED
        redactor = Redactor(needles, marker)
        redacted = redactor.value(original, column.name, about)
        if redactor.found:
            found += redactor.found
            length = getattr(column.type, "length", None)
            if isinstance(redacted, str) and length:
                redacted = redacted[:length]
            changes[column.name] = redacted
    return changes, found
