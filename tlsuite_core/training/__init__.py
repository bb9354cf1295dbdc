"""The engine: the one place that builds a ``transformers.Trainer`` and writes run folders."""
