"""Scraping a process's Prometheus /metrics in tests, and reading samples out of the scrape."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

# (sample name, sorted labels) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape_metrics(port: int) -> Samples:
    """A process's Prometheus /metrics as (sample name, sorted labels) -> value."""
    async with aiohttp.ClientSession() as client, client.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(value for (sample, found), value in samples.items() if sample == name and wanted <= set(found))


def label_values(samples: Samples, name: str, *labels: str) -> set[tuple[str, ...]]:
    """The distinct values of `labels` among the samples named `name`."""
    return {tuple(dict(found)[label] for label in labels) for sample, found in samples if sample == name}


async def scrape_until(port: int, done: Callable[[Samples], bool], within: float, describe: str) -> Samples:
    """Scrape every 0.2 s (a process still starting refuses the connection) until `done` holds."""
    samples: Samples = {}
    try:
        async with asyncio.timeout(within):
            while True:
                try:
                    samples = await scrape_metrics(port)
                except aiohttp.ClientConnectionError:
                    samples = {}
                if samples and done(samples):
                    return samples
                await asyncio.sleep(0.2)
    except TimeoutError:
        zvt = {key: value for key, value in samples.items() if key[0].startswith("zvt_")}
        raise AssertionError(
            f"timed out after {within} s waiting for {describe}; last scrape: {zvt}"
        ) from None
