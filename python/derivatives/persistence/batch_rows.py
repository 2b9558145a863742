"""The rows one projection transaction reads and writes, held in memory as plain dicts and written
at its end with SQLAlchemy Core: one ``executemany`` per table and kind (insert, update by key).

Invariants:
    * A row is read at most once per transaction (orders and position totals in bulk before the
      events are applied, trades and bars on first use); every change after that is made to the
      dict, so the SQL sees only each row's final state.
    * A row created in this transaction is inserted once with its final contents; a row that was
      read is updated (by primary key, every column the projection changes) only if it changed.
    * Nothing is written before :meth:`BatchRows.write`, which runs on the caller's connection, in
      the caller's transaction (the one that also moves the projection cursor).
    * Dict keys are the column names of :mod:`derivatives.persistence.models`, so an order dict is
      exactly the fields of :class:`derivatives.persistence.views.OrderState`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, select, update

from derivatives.persistence.models import Base

Row = dict[str, Any]
CHUNK = 500
"""Keys per ``IN (...)`` list (well under SQLite's bound-parameter limit)."""

ORDERS: Table = Base.metadata.tables["orders"]
TRADES: Table = Base.metadata.tables["trades"]
KLINES: Table = Base.metadata.tables["klines_1m"]
INCOME: Table = Base.metadata.tables["income"]
FUNDING: Table = Base.metadata.tables["funding_rates"]
ADL: Table = Base.metadata.tables["adl_fills"]
TOTALS: Table = Base.metadata.tables["position_totals"]
MARGIN_CHANGES: Table = Base.metadata.tables["position_margin_changes"]
FEE_RATES: Table = Base.metadata.tables["account_fee_rates"]


class _Keyed:
    """The rows of one table this transaction touched, by primary key."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.key_columns = [column.name for column in table.primary_key.columns]
        self.rows: dict[Any, Row | None] = {}
        """Key -> row; None: known to be absent from the database."""
        self.loaded: dict[Any, tuple[Any, ...]] = {}
        """Key -> the row's values as read (to tell whether it changed)."""
        self.created: list[Any] = []

    def key_of(self, row: Row) -> Any:
        values = tuple(row[name] for name in self.key_columns)
        return values[0] if len(values) == 1 else values

    def remember(self, found: Iterable[Row]) -> None:
        for row in found:
            key = self.key_of(row)
            self.rows[key] = row
            self.loaded[key] = tuple(row.values())

    def get(self, connection: Connection, key: Any) -> Row | None:
        if key not in self.rows:
            keys = key if isinstance(key, tuple) else (key,)
            condition = [self.table.c[name] == value for name, value in zip(self.key_columns, keys, strict=True)]
            self.remember(dict(row) for row in connection.execute(select(self.table).where(*condition)).mappings())
            self.rows.setdefault(key, None)
        return self.rows[key]

    def add(self, row: Row) -> Row:
        key = self.key_of(row)
        self.rows[key] = row
        self.created.append(key)
        return row

    def write(self, connection: Connection) -> None:
        inserts = [row for key in self.created if (row := self.rows[key]) is not None]
        created = set(self.created)
        changed = [row for key, row in self.rows.items()
                   if row is not None and key not in created and tuple(row.values()) != self.loaded[key]]
        if inserts:
            connection.execute(self.table.insert(), inserts)
        if changed:
            values = [name for name in changed[0] if name not in self.key_columns]
            statement = (update(self.table)
                         .where(*[self.table.c[name] == bindparam(f"key_{name}") for name in self.key_columns])
                         .values({name: bindparam(f"new_{name}") for name in values}))
            connection.execute(statement, [
                {**{f"key_{name}": row[name] for name in self.key_columns},
                 **{f"new_{name}": row[name] for name in values}}
                for row in changed
            ])


class BatchRows:
    """The working set of one projection transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.orders = _Keyed(ORDERS)
        self.trades = _Keyed(TRADES)
        self.klines = _Keyed(KLINES)
        self.totals = _Keyed(TOTALS)
        self.income: list[Row] = []
        self.funding: list[Row] = []
        self.adl: list[Row] = []
        self.margin_changes: list[Row] = []
        self.fee_rates: dict[int, tuple[int, int] | None] = {}
        """Account -> its own (maker, taker) rates as this transaction leaves them; None: none."""
        self._accounts_read: set[int] = set()

    def prefetch(self, order_ids: Iterable[int], accounts: Iterable[int]) -> None:
        """Reads the orders and the position totals of the accounts the events will touch, in bulk."""
        self._read_in(self.orders, ORDERS.c.order_id, sorted(set(order_ids) - set(self.orders.rows)))
        accounts = set(accounts) - self._accounts_read
        self._read_in(self.totals, TOTALS.c.account_id, sorted(accounts))
        self._accounts_read |= accounts

    def _read_in(self, keyed: _Keyed, column: Any, keys: Sequence[int]) -> None:
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start:start + CHUNK]
            found = self.connection.execute(select(keyed.table).where(column.in_(chunk))).mappings()
            keyed.remember(dict(row) for row in found)
        if keyed is self.orders:
            for key in keys:
                keyed.rows.setdefault(key, None)

    def order(self, order_id: int) -> Row | None:
        """The order's row as it stands in this transaction (None: not projected)."""
        return self.orders.get(self.connection, order_id)

    def trade(self, trade_id: int) -> Row | None:
        """The trade's row as it stands in this transaction (None: not projected)."""
        return self.trades.get(self.connection, trade_id)

    def kline(self, symbol: str, open_time: int) -> Row | None:
        """The 1-minute bar as it stands in this transaction (None: none yet)."""
        return self.klines.get(self.connection, (symbol, open_time))

    def position_total(self, account: int, symbol: str) -> Row:
        """The account's accumulated totals on the symbol (created at zero when absent)."""
        key = (account, symbol)
        row = self.totals.rows.get(key) if account in self._accounts_read else self.totals.get(self.connection, key)
        if row is None:
            row = self.totals.add({"account_id": account, "symbol": symbol, "realised_pnl": 0, "commission": 0})
        return row

    def write(self) -> None:
        """Writes every row: one executemany per table and kind."""
        for keyed in (self.orders, self.trades, self.klines, self.totals):
            keyed.write(self.connection)
        for table, rows in ((INCOME, self.income), (FUNDING, self.funding), (ADL, self.adl),
                            (MARGIN_CHANGES, self.margin_changes)):
            if rows:
                self.connection.execute(table.insert(), rows)
        if self.fee_rates:
            self.connection.execute(delete(FEE_RATES).where(FEE_RATES.c.account_id.in_(sorted(self.fee_rates))))
            rates = [{"account_id": account, "maker": rate[0], "taker": rate[1]}
                     for account, rate in self.fee_rates.items() if rate is not None]
            if rates:
                self.connection.execute(FEE_RATES.insert(), rates)
