"""Trend charts (matplotlib, Agg backend): per topic, volume bars and negative/positive share lines."""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from .records import Alert, TrendRow
from .trends import Bucket, parse_bucket


def alert_span(alert: Alert, bucket: Bucket) -> tuple[datetime, datetime]:
    """Where an alert episode goes on a chart of ``bucket`` buckets: from the chart bucket holding its first bucket
    to the end of the chart bucket holding the end of its last one. The episode's own buckets (the rule's size,
    which may differ from the chart's) give its extent; the chart's grid gives the edges."""
    end = alert.last_bucket + parse_bucket(alert.bucket).size
    last = bucket.floor(end)
    return bucket.floor(alert.bucket_start), last if last == end else last + bucket.size


def trend_png(
    rows: Sequence[TrendRow], bucket: Bucket, *, alerts: Sequence[Alert] = (), max_topics: int = 12, title: str = ""
) -> bytes:
    """A PNG of the trends: one panel per topic (the busiest ``max_topics``), alert episodes shaded."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    by_topic: dict[str, list[TrendRow]] = defaultdict(list)
    for r in rows:
        by_topic[r.topic].append(r)
    topics = sorted(by_topic, key=lambda t: -sum(r.volume for r in by_topic[t]))[:max_topics]
    topics.sort()
    n = max(1, len(topics))
    cols = 1 if n == 1 else 2
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(7 * cols, 2.6 * nrows + 0.6), squeeze=False, sharex=True)
    width = bucket.size.total_seconds() / 86400 * 0.8
    for k, topic in enumerate(topics or ["(no data)"]):
        ax = axes[k // cols][k % cols]
        series = sorted(by_topic.get(topic, []), key=lambda r: r.bucket_start)
        ax.set_title(topic, fontsize=10, loc="left")
        if not series:
            continue
        x = [r.bucket_start for r in series]
        middle = [start + bucket.size / 2 for start in x]  # a share belongs to its whole bucket: plot it mid-bucket
        vol = ax.twinx()
        vol.bar(middle, [r.volume for r in series], width=width, color="#cfd8e3", align="center", zorder=0)
        vol.set_ylabel("items", fontsize=8, color="#7b8794")
        vol.tick_params(labelsize=7, colors="#7b8794")
        ax.set_zorder(vol.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.plot(
            middle, [r.shares.get("negative", 0.0) for r in series], color="#c0392b", lw=1.4, label="negative share"
        )
        ax.plot(
            middle,
            [r.shares.get("positive", 0.0) for r in series],
            color="#27ae60",
            lw=1.0,
            alpha=0.8,
            label="positive share",
        )
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=7)
        for alert in alerts:
            if alert.topic == topic:
                ax.axvspan(*alert_span(alert, bucket), color="#f39c12", alpha=0.25, lw=0)
        if k == 0:
            ax.legend(fontsize=7, loc="upper left")
    for k in range(len(topics or [0]), nrows * cols):
        axes[k // cols][k % cols].set_visible(False)
    fig.suptitle(title or f"sentiment by topic ({bucket.name} buckets; shaded: alert episodes)", fontsize=11)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
