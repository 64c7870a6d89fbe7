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
        refused = CounterMetricFamily(
            "textbot_inbound_refused",
            "Texts received that no conversation could take, by reason (see the logs)",
            labels=["reason"],
        )
        for reason, count in sorted(self.stats.inbound_refused.items()):
            refused.add_metric([reason], count)
        yield refused
        yield GaugeMetricFamily(
            "textbot_outbox_due", "Texts due to be sent now", value=self.stats.outbox_due
        )
        yield GaugeMetricFamily(
            "textbot_unconfirmed_deliveries",
            "Texts handed to Twilio whose outcome is not known yet",
            value=self.stats.unconfirmed_deliveries,
        )
        yield GaugeMetricFamily(
            "textbot_held_conversations",
            "Phones whose due text waits for an earlier one to them to settle",
            value=self.stats.held_conversations,
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
        parked = GaugeMetricFamily(
            "textbot_slack_parked",
            "Conversations and messages Slack refused for good, by Slack's error "
            "(see textbot doctor)",
            labels=["what", "error"],
        )
        for (what, error), count in sorted(self.stats.slack_parked.items()):
            parked.add_metric([what, error], count)
        yield parked


def render_metrics(stats: Stats) -> bytes:
    registry = CollectorRegistry()
    registry.register(_StatsCollector(stats))  # type: ignore[arg-type]
    return generate_latest(registry)
