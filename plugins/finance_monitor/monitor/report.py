"""The self-contained HTML report: trend charts (embedded PNG), alerts with evidence, top negative items per topic."""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlsuite_core.files import write_atomically

from .charts import trend_png
from .trends import parse_bucket

if TYPE_CHECKING:
    from .api import Monitor

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#1f2933}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #d9e2ec}h3{font-size:1em}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:.5em 0}th,td{border:1px solid #d9e2ec;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f0f4f8}.num{text-align:right}.neg{color:#c0392b}.muted{color:#7b8794}img{max-width:100%}
.alert{border-left:4px solid #f39c12;padding:.3em .8em;margin:1em 0;background:#fffaf0}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def render(monitor: Monitor, *, since: datetime | None, until: datetime | None, top: int = 5) -> str:
    bucket = monitor.bucket
    rows = monitor.trends(since=since, until=until, bucket=bucket.name)
    found = monitor.alerts(since=since, until=until)
    chart = base64.b64encode(trend_png(rows, bucket, alerts=found)).decode("ascii") if rows else None
    topics = sorted({r.topic for r in rows})
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>finance-monitor report {_when(since)} to {_when(until)}</title><style>{CSS}</style></head><body>",
        "<h1>finance-monitor: sentiment report</h1>",
        (
            f"<p>Period: <b>{_when(since) if since else 'start'}</b> to <b>{_when(until) if until else 'now'}</b> (UTC) · model "
            f"<code>{_e(monitor.model_id)}</code> · {sum(r.volume for r in rows)} item-topic rows in {len(topics)} topics · "
            f"{len(found)} alerts · {bucket.name} buckets</p>"
        ),
        (
            "<h2>Summary by topic</h2><table><tr><th>topic</th><th class=num>items</th><th class=num>negative</th>"
            "<th class=num>neutral</th><th class=num>positive</th><th class=num>mean sentiment</th><th class=num>alerts</th></tr>"
        ),
    ]
    for topic in topics:
        mine = [r for r in rows if r.topic == topic]
        n = sum(r.volume for r in mine)
        share = {lab: sum(r.counts.get(lab, 0) for r in mine) / n for lab in ("negative", "neutral", "positive")}
        mean = sum(r.mean_sentiment * r.volume for r in mine) / n
        out.append(
            f"<tr><td>{_e(topic)}</td><td class=num>{n}</td><td class='num neg'>{share['negative']:.1%}</td><td class=num>{share['neutral']:.1%}</td>"
            f"<td class=num>{share['positive']:.1%}</td><td class=num>{mean:+.3f}</td><td class=num>{sum(a.topic == topic for a in found)}</td></tr>"
        )
    out.append("</table>")
    out.append("<h2>Trends</h2>")
    if chart:
        out.append(f"<img alt='sentiment trends by topic' src='data:image/png;base64,{chart}'>")
    else:
        out.append("<p class=muted>No items in this period.</p>")
    out.append(f"<h2>Alerts ({len(found)})</h2>")
    if not found:
        out.append("<p class=muted>No alerts in this period.</p>")
    for a in sorted(found, key=lambda a: a.bucket_start):
        out.append(
            f"<div class=alert><b>{_e(a.topic)}</b> · {_e(a.rule)} · {_when(a.bucket_start)} to {_when(a.last_bucket + parse_bucket(a.bucket).size)} UTC ({_e(a.bucket)} buckets)"
            f"<br>{_e(a.message)}"
        )
        if a.evidence:
            out.append(
                "<table><tr><th>evidence item</th><th>published</th><th class=num>P(negative)</th><th>text</th></tr>"
            )
            for ev in a.evidence:
                out.append(
                    f"<tr><td>{_e(ev['id'])}</td><td>{_e(ev['published_at'][:16].replace('T', ' '))}</td><td class='num neg'>{ev['p_negative']:.2f}</td><td>{_e(ev['text'])}</td></tr>"
                )
            out.append("</table>")
        if a.deliveries:
            out.append(
                "<span class=muted>deliveries: "
                + ", ".join(f"{_e(k)}: {_e(v)}" for k, v in a.deliveries.items())
                + "</span>"
            )
        out.append("</div>")
    out.append(f"<h2>Top negative items per topic (top {top})</h2>")
    for topic in topics:
        items = monitor.top_negative(topic, since=since, until=until, limit=top)
        out.append(
            f"<h3>{_e(topic)}</h3><table><tr><th>item</th><th>published</th><th>source</th><th class=num>P(negative)</th><th>text</th></tr>"
        )
        for ev in items:
            out.append(
                f"<tr><td>{_e(ev['id'])}</td><td>{_e(ev['published_at'][:16].replace('T', ' '))}</td><td>{_e(ev['source'] or '')}</td>"
                f"<td class='num neg'>{ev['p_negative']:.2f}</td><td>{_e(ev['text'])}</td></tr>"
            )
        out.append("</table>")
    out.append(
        f"<p class=muted>Generated {_when(datetime.now(timezone.utc))} UTC by tlsuite finance-monitor report.</p></body></html>"
    )
    return "\n".join(out)


def write_report(
    monitor: Monitor, output: Path, *, since: datetime | None, until: datetime | None, top: int = 5
) -> Path:
    from tlsuite_core.errors import ConfigError

    if output.is_dir():
        raise ConfigError(f"--output {output}: is a folder; give a file name like report.html")
    return write_atomically(output, render(monitor, since=since, until=until, top=top))
