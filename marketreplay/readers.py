"""Recorded market data files -> `TradeTick` / `QuoteTick` events, one parser per file format.

The format of a file is recognised from its columns, not its name, so renamed or cut files still read.
Each row parser is a pure function of one row (a dict of strings); `read_file` adds the file I/O and names
the file and line of a bad row (`ReplayFileError`). Rows keep the file's order.

Market time, per format: the one clock all of a recording's files share, which is the exchange's clock
whenever every file has it:
- binance trades (`local_ts_ns, event_time_ms, trade_time_ms, ...`): `local_ts_ns`, the collector's receive
  time, because the book tickers recorded beside them have no other clock. The collector's clock ran about
  1.27 s behind Binance's: on `trade_time_ms` every trade would sort about 1.27 s after the quotes the
  collector received with it, and a strategy reacting to a trade would be filled against quotes from its
  future.
- binance book ticker (`local_ts_ns, update_id, ...`): `local_ts_ns`; Binance's spot bookTicker stream
  carries no exchange time at all.
- kraken trades (`time_s, trade_id, ...`): `time_s`, Kraken's trade time (seconds with a fraction).
- tardis trades / quotes (`exchange, symbol, timestamp, local_timestamp, ...`): `timestamp`, the exchange's
  time in microseconds.
- parquet trades (`timestamp, trade_id, price, quantity, buyer_maker`) and quotes (`timestamp, symbol, bid,
  bid_size, ask, ask_size`), as nautilus_trader's binance test files: `timestamp` (exchange time). Venue and
  symbol come from columns of those names or else from the file name (`binance_spot_btcusdt_...parquet`).
  Their prices and sizes are float64: read back with 15 significant digits (`cell_text`), not as the exact
  binary value.

Prices and sizes are read from their text straight into `Decimal` (never through float) and normalised, so
`61837.63000000` becomes `61837.63` and `2152.0` becomes `2152`. Exchange symbols become ccxt unified
symbols; tardis exchange ids become ccxt ids (`huobi-dm-swap` -> `huobi`).

A bad row stops the read with a `ReplayFileError` naming the file and line (no skip-and-count mode: a
replay that silently drops rows would no longer be the recorded market).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from uuid import UUID

from pydantic import ValidationError

from schemas import QuoteTick, TradeTick
from schemas.primitives import Side
from trading.ids import derived_id

Row = Mapping[str, str]
Tick = TradeTick | QuoteTick
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Quote currencies a concatenated exchange symbol (BTCUSDT) may end with, tried in order (FDUSD before USD).
QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "EUR", "BTC", "ETH")
# Exchange asset codes that ccxt renames.
ASSET_ALIASES = {"XBT": "BTC", "XXBT": "BTC", "XETH": "ETH", "ZUSD": "USD"}
# Tardis exchange ids -> ccxt ids.
TARDIS_VENUES = {"bitmex": "bitmex", "deribit": "deribit", "huobi-dm-swap": "huobi", "binance": "binance"}


class ReplayFileError(ValueError):
    """A file or row that cannot be replayed; the message names the file and line."""


class RowError(ValueError):
    """A row that does not parse; `read_file` adds where it is."""


def decimal(text: str) -> Decimal:
    """Exact Decimal of a number written as text; refuses floats' NaN/inf and empty cells."""
    try:
        value = Decimal(text.strip())
        if not value.is_finite():
            raise RowError(f"not a finite number: {text!r}")
        # Trailing zeros off, but an integer stays an integer (plain normalize() turns 100 into 1E+2).
        return value.quantize(1) if value == value.to_integral_value() else value.normalize()
    except InvalidOperation:
        raise RowError(f"not a number: {text!r}") from None


def epoch_time(text: str, unit: Decimal) -> datetime:
    """The UTC time of an epoch count in `unit` seconds (1e-9 for ns, ...), to the microsecond (datetime's
    resolution: nanosecond receive times are rounded; equal results keep file order in the merge)."""
    micros = (decimal(text) * unit * 1_000_000).to_integral_value()
    return EPOCH + timedelta(microseconds=int(micros))


NS, US, MS, S = Decimal("1e-9"), Decimal("1e-6"), Decimal("1e-3"), Decimal(1)


def unified_symbol(exchange_symbol: str) -> str:
    """ccxt spot symbol of `BTCUSDT`, `XBT/USDT` or `BTC-USDT` (`BTC/USDT`)."""
    text = exchange_symbol.strip().upper()
    for separator in ("/", "-", "_"):
        if separator in text:
            base, _, counter = text.partition(separator)
            break
    else:
        counter = next((q for q in QUOTES if text.endswith(q) and len(text) > len(q)), "")
        if not counter:
            raise RowError(f"cannot split symbol {exchange_symbol!r} into base and quote")
        base = text[: -len(counter)]
    return f"{ASSET_ALIASES.get(base, base)}/{ASSET_ALIASES.get(counter, counter)}"


def tardis_symbol(venue: str, exchange_symbol: str) -> str:
    """ccxt symbol of a tardis derivatives symbol: the perpetual swaps in the samples are inverse (`:BTC`)."""
    if venue == "binance":
        return unified_symbol(exchange_symbol)
    if venue == "bitmex" and exchange_symbol == "XBTUSD":
        return "BTC/USD:BTC"
    if venue == "huobi" and exchange_symbol.count("-") == 1:
        base, counter = unified_symbol(exchange_symbol).split("/")
        return f"{base}/{counter}:{base}"
    if venue == "deribit" and exchange_symbol.endswith("-PERPETUAL"):
        base = exchange_symbol.removesuffix("-PERPETUAL")
        return f"{base}/USD:{base}"
    raise RowError(f"no ccxt symbol known for {exchange_symbol!r} on {venue}")


def side(text: str) -> Side:
    lowered = text.strip().lower()
    if lowered in ("buy", "b"):
        return Side.BUY
    if lowered in ("sell", "s"):
        return Side.SELL
    raise RowError(f"not a side: {text!r}")


@dataclass(frozen=True)
class TradeColumns:
    """Where a format keeps a trade's fields, and the unit of its time column."""

    trade_id: str
    price: str
    quantity: str
    time: str
    unit: Decimal


@dataclass(frozen=True)
class QuoteColumns:
    """Where a format keeps a book top's fields, and the unit of its time column."""

    bid_price: str
    bid_size: str
    ask_price: str
    ask_size: str
    time: str
    unit: Decimal


def trade(row: Row, venue: str, symbol: str, aggressor: Side | None, columns: TradeColumns) -> TradeTick:
    return TradeTick(
        venue=venue,
        symbol=symbol,
        trade_id=row[columns.trade_id],
        price=decimal(row[columns.price]),
        quantity=decimal(row[columns.quantity]),
        aggressor_side=aggressor,
        market_time=epoch_time(row[columns.time], columns.unit),
    )


def quote(row: Row, venue: str, symbol: str, columns: QuoteColumns) -> QuoteTick:
    return QuoteTick(
        venue=venue,
        symbol=symbol,
        bid_price=decimal(row[columns.bid_price]),
        bid_size=decimal(row[columns.bid_size]),
        ask_price=decimal(row[columns.ask_price]),
        ask_size=decimal(row[columns.ask_size]),
        market_time=epoch_time(row[columns.time], columns.unit),
    )


BINANCE_TRADES = TradeColumns("trade_id", "price", "qty", "local_ts_ns", NS)
BINANCE_BOOK_TICKER = QuoteColumns("bid_price", "bid_qty", "ask_price", "ask_qty", "local_ts_ns", NS)
KRAKEN_TRADES = TradeColumns("trade_id", "price", "volume", "time_s", S)
TARDIS_TRADES = TradeColumns("id", "price", "amount", "timestamp", US)
TARDIS_QUOTES = QuoteColumns("bid_price", "bid_amount", "ask_price", "ask_amount", "timestamp", US)
PARQUET_TRADES = TradeColumns("trade_id", "price", "quantity", "timestamp", US)
PARQUET_QUOTES = QuoteColumns("bid", "bid_size", "ask", "ask_size", "timestamp", US)


def binance_trade(row: Row) -> TradeTick:
    symbol = unified_symbol(row["symbol"])
    return trade(row, "binance", symbol, side(row["aggressor_side"]), BINANCE_TRADES)


def binance_book_ticker(row: Row) -> QuoteTick:
    return quote(row, "binance", unified_symbol(row["symbol"]), BINANCE_BOOK_TICKER)


def kraken_trade(row: Row) -> TradeTick:
    return trade(row, "kraken", unified_symbol(row["symbol"]), side(row["side"]), KRAKEN_TRADES)


def tardis_venue(row: Row) -> str:
    try:
        return TARDIS_VENUES[row["exchange"]]
    except KeyError:
        raise RowError(f"no ccxt venue known for tardis exchange {row['exchange']!r}") from None


def tardis_trade(row: Row) -> TradeTick:
    venue = tardis_venue(row)
    aggressor = side(row["side"]) if row["side"] in ("buy", "sell") else None  # tardis writes "unknown"
    return trade(row, venue, tardis_symbol(venue, row["symbol"]), aggressor, TARDIS_TRADES)


def tardis_quote(row: Row) -> QuoteTick:
    venue = tardis_venue(row)
    return quote(row, venue, tardis_symbol(venue, row["symbol"]), TARDIS_QUOTES)


def parquet_trade(row: Row) -> TradeTick:
    aggressor = Side.SELL if row["buyer_maker"].strip().lower() == "true" else Side.BUY
    return trade(row, row["venue"], unified_symbol(row["symbol"]), aggressor, PARQUET_TRADES)


def parquet_quote(row: Row) -> QuoteTick:
    return quote(row, row["venue"], unified_symbol(row["symbol"]), PARQUET_QUOTES)


@dataclass(frozen=True)
class Format:
    name: str
    columns: frozenset[str]
    parse: Callable[[Row], Tick]


def _format(name: str, columns: str, parse: Callable[[Row], Tick]) -> Format:
    return Format(name, frozenset(columns.split()), parse)


CSV_FORMATS = (
    _format(
        "binance trades", "local_ts_ns trade_time_ms symbol trade_id price qty aggressor_side", binance_trade
    ),
    _format(
        "binance book ticker", "local_ts_ns symbol bid_price bid_qty ask_price ask_qty", binance_book_ticker
    ),
    _format("kraken trades", "time_s trade_id symbol price volume side", kraken_trade),
    _format("tardis trades", "exchange symbol timestamp id side price amount", tardis_trade),
    _format(
        "tardis quotes", "exchange symbol timestamp ask_amount ask_price bid_price bid_amount", tardis_quote
    ),
)


PARQUET_FORMATS = (
    _format("parquet trades", "venue symbol timestamp trade_id price quantity buyer_maker", parquet_trade),
    _format("parquet quotes", "venue symbol timestamp ask_size ask bid_size bid", parquet_quote),
)
# `<venue>_spot_<symbol>_...parquet` (binance_spot_btcusdt_trades_20210108.parquet): where a parquet file
# without venue or symbol columns gets them.
PARQUET_NAME = re.compile(r"^(?P<venue>[a-z0-9]+)_spot_(?P<symbol>[a-z0-9]+)_")


def detect_format(path: Path, header: list[str], formats: tuple[Format, ...] = CSV_FORMATS) -> Format:
    """The format whose required columns the header has; the most specific one if several match."""
    columns = set(header)
    matches = [fmt for fmt in formats if fmt.columns <= columns]
    if not matches:
        known = "; ".join(f"{fmt.name}: {', '.join(sorted(fmt.columns))}" for fmt in formats)
        raise ReplayFileError(f"{path}:1: unknown header {header}; known formats: {known}")
    return max(matches, key=lambda fmt: len(fmt.columns))


def cell_text(value: object) -> str:
    """A parquet cell as the text a CSV would hold. Floats keep 15 significant digits: every decimal of up
    to 15 digits survives the trip through a double, and the digits beyond are the double's error
    (0.000311 is stored as 0.00031099999999999997), so prices and sizes come back as they were written."""
    if value is None:
        return ""
    if isinstance(value, float):
        return format(value, ".15g")
    return str(value)


def parquet_rows(path: Path) -> Iterator[dict[str, str]]:
    """The rows of a parquet file as text, timestamps as epoch microseconds, batch by batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    named = PARQUET_NAME.match(path.name)
    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        columns: dict[str, list[str]] = {}
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if pa.types.is_timestamp(column.type):
                column = column.cast(pa.timestamp("us", tz="UTC"), safe=False).cast(pa.int64())
            columns[name] = [cell_text(value) for value in column.to_pylist()]
        for key in ("venue", "symbol"):
            if key not in columns and named:
                columns[key] = [named[key]] * batch.num_rows
        for index in range(batch.num_rows):
            yield {name: values[index] for name, values in columns.items()}


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(map(str, first['loc'])) or 'row'}: {first['msg']}"
    if isinstance(exc, AttributeError):
        return "missing cells"
    return str(exc)


# uuid5 namespace of replayed ticks: a tick's id follows from its file's name and its row.
REPLAY_NAMESPACE = UUID("5b0f3f1e-6a4c-4d2b-9c7e-2e8d1a6f4b93")


def identified(tick: Tick, source: str, row: int) -> Tick:
    """`tick` with an id (and, as a root event, a correlation) fixed by where it was recorded: replaying the
    same file again gives the same ids, so every id derived downstream (orders, fills) is the same too, and a
    file replayed twice into the same topics is dropped the second time by every consumer."""
    event_id = derived_id(REPLAY_NAMESPACE, f"{source}:{row}")
    return tick.model_copy(update={"event_id": event_id, "correlation_id": event_id})


def read_file(path: Path) -> Iterator[Tick]:
    """The ticks of one file (CSV, or `.parquet`) in row order, with ids fixed by file name and row; a bad
    row raises `ReplayFileError`."""
    if path.suffix == ".parquet":
        yield from _read_parquet(path)
        return
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fmt = detect_format(path, list(reader.fieldnames or []))
        for row in reader:
            try:
                yield identified(fmt.parse(row), path.name, reader.line_num)
            except (RowError, ValidationError, AttributeError) as exc:  # a short row leaves None cells
                raise ReplayFileError(f"{path}:{reader.line_num}: {fmt.name}: {_reason(exc)}") from exc


def _read_parquet(path: Path) -> Iterator[Tick]:
    fmt: Format | None = None
    for number, row in enumerate(parquet_rows(path), start=1):
        fmt = fmt or detect_format(path, list(row), PARQUET_FORMATS)
        try:
            yield identified(fmt.parse(row), path.name, number)
        except (RowError, ValidationError) as exc:
            raise ReplayFileError(f"{path}: row {number}: {fmt.name}: {_reason(exc)}") from exc
