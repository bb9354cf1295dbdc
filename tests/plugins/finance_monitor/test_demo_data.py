"""The shipped demo data: enough rows, all three classes well represented, a dev split, clean rows."""

from __future__ import annotations

from collections import Counter

from tlsuite_core.data import check_label_sets, load_labelled
from tlsuite_core.plugins import get_host


def test_demo_data_is_large_balanced_and_valid():
    app = get_host().app("finance-monitor")
    train = load_labelled(app.demo_train)
    dev = load_labelled(app.demo_dev)
    assert len(train) + len(dev) >= 400
    check_label_sets(train, [dev])
    for data, minimum in ((train, 150), (dev, 30)):
        counts = Counter(data.labels)
        assert set(counts) == {"positive", "neutral", "negative"}
        assert min(counts.values()) >= minimum, counts
    assert not set(train.texts) & set(dev.texts), "dev must not repeat training texts"
    assert len(set(train.texts)) == len(train.texts)
