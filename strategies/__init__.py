"""Trading strategies: pure decisions from prices to order intents, with parameters from configuration.

Nothing here does I/O. A strategy kind is a class (`Strategy`) registered under a name; an instance in
`config/strategies.toml` names its kind, account, symbols and parameters; `agents.strategies` runs every
configured instance on the price stream, state in the stage's changelog per strategy and symbol.
"""

from strategies.base import KINDS, OrderIntent, Strategy, TargetState, register
from strategies.config import StrategiesConfig, StrategySpec
from strategies.runner import Roster, StrategyInstance, StrategySlot

# The example kinds register themselves on import.
from strategies import grid, ma_crossover, mean_reversion  # noqa: F401  isort: skip

__all__ = [
    "KINDS",
    "OrderIntent",
    "Roster",
    "StrategiesConfig",
    "Strategy",
    "StrategyInstance",
    "StrategySlot",
    "StrategySpec",
    "TargetState",
    "register",
]
