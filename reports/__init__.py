"""A session's figures read from its events (PnL, fills, step latencies, analytics) and the files written
from them (session.json, the equity curve, the HTML report), for `zvt session` and the API."""
