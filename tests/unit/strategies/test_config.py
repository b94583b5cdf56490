from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from runtime.settings import REPO_ROOT
from strategies import KINDS, StrategiesConfig
from strategies.mean_reversion import MeanReversionParams


def load(text: str, tmp_path: Path) -> StrategiesConfig:
    path = tmp_path / "strategies.toml"
    path.write_text(text)
    return StrategiesConfig.from_toml(path)


ONE = """
[[strategies]]
id = "mr-1"
kind = "mean_reversion"
account = "acct-1"
symbols = ["ETH/USDT"]
[strategies.parameters]
window = 20
entry_z = "2"
quantity = "0.1"
"""


def test_the_shipped_config_loads_one_instance_of_each_example_kind() -> None:
    config = StrategiesConfig.from_toml(REPO_ROOT / "config" / "strategies.toml")
    assert sorted(spec.kind for spec in config.strategies) == sorted(KINDS)
    assert sorted(KINDS) == ["grid", "ma_crossover", "mean_reversion"]


def test_parameters_are_validated_into_the_kinds_model(tmp_path: Path) -> None:
    (spec,) = load(ONE, tmp_path).strategies
    strategy = spec.build()
    assert isinstance(strategy.params, MeanReversionParams)
    assert str(strategy.params.entry_z) == "2"
    assert spec.venue is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('kind = "mean_reversion"', 'kind = "momentum"'),
            "strategy 'mr-1': unknown kind 'momentum'; kinds: ",
        ),
        (
            ("window = 20", "windw = 20"),
            "strategy 'mr-1' \\(mean_reversion\\) parameters: window: Field required; windw: Extra inputs",
        ),
        (('entry_z = "2"', 'entry_z = "-1"'), "entry_z: Input should be greater than 0"),
        (('symbols = ["ETH/USDT"]', "symbols = []"), "symbols"),
        (('account = "acct-1"', 'account = "acct 1"'), "account"),
    ],
)
def test_a_bad_instance_is_a_clear_error(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load(ONE.replace(*change), tmp_path)


def test_ids_are_unique_and_unknown_keys_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="strategy ids must be unique; repeated: \\['mr-1'\\]"):
        load(ONE + ONE, tmp_path)
    with pytest.raises(ValidationError, match="colour"):
        load('colour = "red"\n' + ONE, tmp_path)
    with pytest.raises(ValidationError, match="acount"):
        load(ONE.replace("account =", "acount ="), tmp_path)
