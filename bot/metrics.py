"""The /metrics page, in Prometheus' text format."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from models.stats import Stats


class _StatsCollector:
    def __init__(self, stats: Stats):
        self.stats = stats

    def collect(self):  # type: ignore[no-untyped-def]
        deliveries = GaugeMetricFamily(
            "textbot_deliveries", "Outbound texts by delivery status", labels=["status"]
        )
        for status, count in sorted(self.stats.deliveries_by_status.items()):
            deliveries.add_metric([status], count)
        yield deliveries
        yield CounterMetricFamily(
            "textbot_inbound_messages", "Texts received", value=self.stats.inbound_messages
        )
        yield GaugeMetricFamily(
            "textbot_inbound_backlog",
            "Texts received and stored, not yet in their conversation",
            value=self.stats.inbound_backlog,
        )
        yield GaugeMetricFamily(
            "textbot_inbound_stuck",
            "Texts received whose routing into a conversation kept failing (see the logs)",
            value=self.stats.inbound_stuck,
        )
        yield GaugeMetricFamily(
            "textbot_outbox_due", "Texts due to be sent now", value=self.stats.outbox_due
        )
        yield GaugeMetricFamily(
            "textbot_mirror_backlog",
            "Messages waiting to be shown in Slack",
            value=self.stats.mirror_backlog,
        )
        yield GaugeMetricFamily(
            "textbot_mirror_lag_seconds",
            "Age of the oldest message waiting for Slack",
            value=self.stats.mirror_lag_seconds,
        )


def render_metrics(stats: Stats) -> bytes:
    registry = CollectorRegistry()
    registry.register(_StatsCollector(stats))  # type: ignore[arg-type]
    return generate_latest(registry)
