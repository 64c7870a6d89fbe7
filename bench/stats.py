"""Percentiles, and how several runs of one measurement are summed up."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100)."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


@dataclass(frozen=True)
class Summary:
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        return cls(
            p50=percentile(samples, 50),
            p90=percentile(samples, 90),
            p95=percentile(samples, 95),
            p99=percentile(samples, 99),
            max=max(samples),
        )

    @classmethod
    def across_runs(cls, runs: Sequence[Summary]) -> Summary:
        """The median run for each percentile, the worst run for the maximum."""
        return cls(
            p50=statistics.median(r.p50 for r in runs),
            p90=statistics.median(r.p90 for r in runs),
            p95=statistics.median(r.p95 for r in runs),
            p99=statistics.median(r.p99 for r in runs),
            max=max(r.max for r in runs),
        )
