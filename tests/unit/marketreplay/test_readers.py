"""Each CSV format parses to exact Decimals, ccxt symbols and venues, and the exchange's market time."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from marketreplay.readers import ReplayFileError, read_file, unified_symbol
from schemas import QuoteTick, TradeTick
from schemas.primitives import Side


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ticks.csv"
    path.write_text(text)
    return path


def test_binance_trades_use_the_receive_time_of_their_book_tickers_and_exact_decimals(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "local_ts_ns,event_time_ms,trade_time_ms,symbol,trade_id,price,qty,is_buyer_maker,aggressor_side\n"
        "1723161254087896568,1723161255343,1723161255342,BTCUSDT,3735683259,61837.63000000,0.02000000,true,sell\n"
        "1723161254347673567,1723161255619,1723161255617,ETHUSDT,1520538925,2683.80000000,100.00000000,false,buy\n",
    )
    first, second = read_file(path)
    assert first == TradeTick(
        event_id=first.event_id,
        timestamp=first.timestamp,
        correlation_id=first.correlation_id,
        venue="binance",
        symbol="BTC/USDT",
        trade_id="3735683259",
        price=Decimal("61837.63"),
        quantity=Decimal("0.02"),
        aggressor_side=Side.SELL,
        market_time=datetime(2024, 8, 8, 23, 54, 14, 87897, tzinfo=UTC),  # local_ts_ns, rounded to the us
    )
    assert isinstance(second, TradeTick)
    assert (second.symbol, second.aggressor_side) == ("ETH/USDT", Side.BUY)
    assert str(first.price) == "61837.63"
    assert str(second.quantity) == "100"  # not 1E+2


def test_binance_book_ticker_uses_the_receive_time(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "local_ts_ns,update_id,symbol,bid_price,bid_qty,ask_price,ask_qty\n"
        "1723161254087891268,50093239212,BTCUSDT,61837.63000000,3.78826000,61837.64000000,1.54698000\n",
    )
    (quote,) = read_file(path)
    assert isinstance(quote, QuoteTick)
    assert (quote.venue, quote.symbol) == ("binance", "BTC/USDT")
    assert (quote.bid_price, quote.bid_size) == (Decimal("61837.63"), Decimal("3.78826"))
    assert (quote.ask_price, quote.ask_size) == (Decimal("61837.64"), Decimal("1.54698"))
    assert str(quote.ask_size) == "1.54698"
    assert quote.market_time == datetime(2024, 8, 8, 23, 54, 14, 87891, tzinfo=UTC)


def test_kraken_trades_map_xbt_to_btc(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "time_s,trade_id,symbol,price,volume,side,ord_type,misc\n"
        "1762795433.9717445,10218208,XBT/USDT,105433.60000,0.00027625,buy,l,\n"
        "1762795457.8467374,10218209,XBT/USDT,105410.10000,0.00005000,sell,m,\n",
    )
    first, second = read_file(path)
    assert isinstance(first, TradeTick)
    assert isinstance(second, TradeTick)
    assert (first.venue, first.symbol, first.trade_id) == ("kraken", "BTC/USDT", "10218208")
    assert (first.price, first.quantity) == (Decimal("105433.6"), Decimal("0.00027625"))
    assert first.market_time == datetime(2025, 11, 10, 17, 23, 53, 971744, tzinfo=UTC)
    assert second.aggressor_side is Side.SELL
    assert second.quantity == Decimal("0.00005")


def test_tardis_trades_and_quotes_get_ccxt_venues_and_symbols(tmp_path: Path) -> None:
    trades = write(
        tmp_path,
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
        "bitmex,XBTUSD,1583020803145000,1583020803307160,ccc3c1fa-212c,sell,8531.5,2152\n",
    )
    (trade,) = read_file(trades)
    assert isinstance(trade, TradeTick)
    assert (trade.venue, trade.symbol, trade.trade_id) == ("bitmex", "BTC/USD:BTC", "ccc3c1fa-212c")
    assert (trade.price, trade.quantity, trade.aggressor_side) == (
        Decimal("8531.5"),
        Decimal(2152),
        Side.SELL,
    )
    assert trade.market_time == datetime(2020, 3, 1, 0, 0, 3, 145000, tzinfo=UTC)
    quotes = tmp_path / "quotes.csv"
    quotes.write_text(
        "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n"
        "huobi-dm-swap,BTC-USD,1588291201099000,1588291201234268,5494,8629.3,8629.2,806\n"
    )
    (quote,) = read_file(quotes)
    assert isinstance(quote, QuoteTick)
    assert (quote.venue, quote.symbol) == ("huobi", "BTC/USD:BTC")
    assert (quote.bid_price, quote.bid_size, quote.ask_price, quote.ask_size) == (
        Decimal("8629.2"),
        Decimal(806),
        Decimal("8629.3"),
        Decimal(5494),
    )
    assert quote.market_time == datetime(2020, 5, 1, 0, 0, 1, 99000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("exchange", "unified"),
    [("BTCUSDT", "BTC/USDT"), ("ethusdt", "ETH/USDT"), ("XBT/USDT", "BTC/USDT"), ("BTC-USD", "BTC/USD")],
)
def test_unified_symbol(exchange: str, unified: str) -> None:
    assert unified_symbol(exchange) == unified


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("1723161254087891268,1,BTCUSDT,abc,1,61837.64,1", "not a number: 'abc'"),
        ("1723161254087891268,1,BTCUSDT,61837.65,1,61837.64,1", "above ask_price"),
        ("1723161254087891268,1,BTCUSDT,61837.63,-1,61837.64,1", "bid_size"),
        ("1723161254087891268,1,BTCUSDT", "missing cells"),
        ("1723161254087891268,1,BTC,1,1,2,1", "cannot split symbol"),
    ],
)
def test_a_bad_row_names_file_and_line(tmp_path: Path, row: str, reason: str) -> None:
    path = write(
        tmp_path,
        "local_ts_ns,update_id,symbol,bid_price,bid_qty,ask_price,ask_qty\n"
        "1723161254087891268,50093239212,BTCUSDT,61837.63,3.7,61837.64,1.5\n" + row + "\n",
    )
    with pytest.raises(ReplayFileError, match=rf"{path}:3: binance book ticker: .*{reason}"):
        list(read_file(path))


def test_an_unknown_header_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "when,what\n1,2\n")
    with pytest.raises(ReplayFileError, match=r"ticks.csv:1: unknown header"):
        list(read_file(path))


def test_parquet_floats_come_back_as_written_and_venue_symbol_from_the_name(tmp_path: Path) -> None:
    path = tmp_path / "binance_spot_btcusdt_trades_20210108.parquet"
    stamp = datetime(2021, 1, 8, 0, 0, 0, 368000, tzinfo=UTC)
    pq.write_table(
        pa.table(
            {
                "timestamp": pa.array([stamp, stamp], pa.timestamp("ms", tz="UTC")),
                "trade_id": [553287561, 553287562],
                "price": [39439.22, 39432.48],
                "quantity": [0.00031099999999999997, 0.014596000000000001],  # as stored upstream
                "buyer_maker": ["False", "True"],
            }
        ),
        path,
    )
    first, second = read_file(path)
    assert isinstance(first, TradeTick)
    assert isinstance(second, TradeTick)
    assert (first.venue, first.symbol, first.trade_id) == ("binance", "BTC/USDT", "553287561")
    assert (first.price, first.quantity, first.aggressor_side) == (
        Decimal("39439.22"),
        Decimal("0.000311"),
        Side.BUY,
    )
    assert (second.quantity, second.aggressor_side) == (Decimal("0.014596"), Side.SELL)
    assert first.market_time == stamp


def test_parquet_quotes_and_a_bad_parquet_row(tmp_path: Path) -> None:
    path = tmp_path / "okx_spot_ethusdt_quotes.parquet"
    stamp = datetime(2021, 1, 8, 0, 0, 1, 76000, tzinfo=UTC)
    pq.write_table(
        pa.table(
            {
                "timestamp": pa.array([stamp, stamp], pa.timestamp("ns", tz="UTC")),
                "symbol": ["ETH/USDT", "ETH/USDT"],
                "ask_size": [0.066851, 1.0],
                "ask": [1233.62, 1233.0],
                "bid_size": [2.0, 1.0],
                "bid": [1232.99, 1234.0],
            }
        ),
        path,
    )
    ticks = read_file(path)
    quote = next(ticks)
    assert isinstance(quote, QuoteTick)
    assert (quote.venue, quote.symbol, quote.market_time) == ("okx", "ETH/USDT", stamp)
    assert (quote.bid_price, quote.bid_size, quote.ask_price, quote.ask_size) == (
        Decimal("1232.99"),
        Decimal(2),
        Decimal("1233.62"),
        Decimal("0.066851"),
    )
    with pytest.raises(ReplayFileError, match=r"quotes.parquet: row 2: parquet quotes: .*above ask_price"):
        next(ticks)


def test_ids_follow_from_the_file_name_and_row(tmp_path: Path) -> None:
    text = (
        "local_ts_ns,event_time_ms,trade_time_ms,symbol,trade_id,price,qty,is_buyer_maker,aggressor_side\n"
        "1723161254087896568,1723161255343,1723161255342,BTCUSDT,1,61837.63,0.02,true,sell\n"
        "1723161254347673567,1723161255619,1723161255617,BTCUSDT,2,61837.64,0.01,false,buy\n"
    )
    path = write(tmp_path, text)
    first = list(read_file(path))
    again = list(read_file(path))
    assert [t.event_id for t in first] == [t.event_id for t in again]  # a second replay: the same ids
    assert first[0].event_id != first[1].event_id
    assert all(t.correlation_id == t.event_id for t in first)  # each tick is a root event
    other = tmp_path / "other.csv"
    other.write_text(text)
    assert {t.event_id for t in read_file(other)}.isdisjoint(t.event_id for t in first)
