"""Exchange adapters: the paper venue, live venues through ccxt, market rules from ccxt metadata."""
