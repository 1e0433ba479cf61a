"""Read Prometheus text exposition the way Prometheus does, for before/after comparisons."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

from tests.support.http import Client

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_samples(text: str) -> Samples:
    """Every sample of an exposition: (sample name, labels) -> value."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the `name` samples whose labels include `labels` (others summed over)."""
    wanted = set(labels.items())
    return sum(v for (n, key), v in samples.items() if n == name and wanted <= key)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    """Every value `label` takes on series `name`."""
    return {dict(key)[label] for sample_name, key in samples if sample_name == name}


def deltas(before: Samples, after: Samples, name: str, label: str) -> Mapping[str, float]:
    """How much each `label` value of counter `name` grew between two scrapes (non-zero only)."""

    grown = {}
    for value_ in label_values(after, name, label):
        change = total(after, name, **{label: value_}) - total(before, name, **{label: value_})
        if change:
            grown[value_] = change
    return grown


async def scrape(client: Client) -> Samples:
    """The ingress's /metrics, parsed."""
    response = await client.get("/metrics")
    assert response.status == 200
    return parse_samples(await response.text())
