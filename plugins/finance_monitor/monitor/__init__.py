"""finance-monitor live monitoring: ingest news into a database, sentiment trends per topic, alerts, reports.

The Python API is :class:`Monitor`; the CLI commands are ``tlsuite finance-monitor monitor | trends | alerts | report``.
See docs/monitoring.md.
"""

from .api import Monitor
from .records import Alert, BadRecord, IngestStats, NewsItem, RunStats, TrendRow

__all__ = ["Alert", "BadRecord", "IngestStats", "Monitor", "NewsItem", "RunStats", "TrendRow"]
