"""serve's options (declared once in ServeConfig), --config files, API key files, and the command line."""

from __future__ import annotations

import hashlib

import pytest

from tlsuite_core.errors import ConfigError
from tlsuite_core.serving import KeyRing, RateLimiter, ServeConfig, build_serve_config, load_serve_config
from tlsuite_core.serving.config import serve_options_markdown


def test_defaults_are_the_documented_ones():
    config = ServeConfig()
    assert (config.host, config.port, config.max_body_bytes, config.max_text_chars) == (
        "127.0.0.1",
        8000,
        1024 * 1024,
        100_000,
    )
    assert config.batching and config.metrics == "open"


def test_a_config_file_is_checked_and_the_command_line_wins(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text("port: 9000\nmax_wait_ms: 2\npii_regions: US,GB\nmetrics: key\n", encoding="utf-8")
    config = build_serve_config(load_serve_config(path), {"port": 9100, "max_wait_ms": None})
    assert (config.port, config.max_wait_ms, config.pii_regions, config.metrics) == (9100, 2.0, ["US", "GB"], "key")
    path.write_text("max_batch: 8\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"serve.yaml: unknown serve option 'max_batch' \(did you mean"):
        load_serve_config(path)
    path.write_text("port: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="port must be in"):
        load_serve_config(path)
    path.write_text("metrics: maybe\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="metrics must be one of open, key, off"):
        load_serve_config(path)


def test_docs_list_every_option():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[3] / "docs" / "serving.md").read_text(encoding="utf-8")
    assert serve_options_markdown() in docs, "docs/serving.md's options table is stale (serve_options_markdown())"


def test_key_files_hold_keys_scopes_and_rates_as_digests(tmp_path):
    path = tmp_path / "keys.txt"
    digest = hashlib.sha256(b"hashed-key").hexdigest()
    path.write_text(
        f"# comment\nplain-key\n\nsha256:{digest} scopes=ner,finance-monitor/base rate=30/min\n", encoding="utf-8"
    )
    ring = KeyRing.load(path, env="env-key scopes=translate;summarize")
    assert len(ring.keys) == 3 and ring.find("nope") is None
    hashed = ring.find("hashed-key")
    assert hashed.allows("ner", "x") and hashed.allows("finance-monitor", "base")
    assert not hashed.allows("finance-monitor", "other") and hashed.rate_per_minute == 30
    assert ring.find("env-key").scopes == ("translate", "summarize") and ring.find("plain-key").scopes == ()
    assert "plain-key" not in repr(ring) and "hashed-key" not in repr(ring)


@pytest.mark.parametrize(
    "line, message",
    [
        ("sha256:abc", "64 hex digits"),
        ("key scope=ner", "expected scopes="),
        ("key rate=lots", "expected scopes="),
    ],
)
def test_a_bad_key_line_names_the_file_and_line(tmp_path, line, message):
    path = tmp_path / "keys.txt"
    path.write_text(f"good\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"keys.txt:2: .*{message}"):
        KeyRing.load(path, env="")


def test_rate_limit_refills_over_time():
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    key = KeyRing.load(env="k rate=60/min").keys[0]
    assert [limiter.take(key) for _ in range(6)] == [0, 0, 0, 0, 0, 0]  # a burst of 60/10
    assert limiter.take(key) == 1
    now[0] += 1.0
    assert limiter.take(key) == 0


def test_the_cli_refuses_bad_input_in_one_line(cli, tmp_path):
    result = cli("serve", str(tmp_path / "missing-run"))
    assert result.exit_code == 2 and "no such run folder" in result.output and "Traceback" not in result.output
    keys = tmp_path / "keys.txt"
    keys.write_text("k scopes\n", encoding="utf-8")
    result = cli("serve", str(tmp_path), "--api-keys", str(keys))
    assert result.exit_code == 2 and "keys.txt:1" in result.output
    result = cli("serve", str(tmp_path), "--host", "0.0.0.0")
    assert result.exit_code == 2 and "without API keys" in result.output
    result = cli("serve", str(tmp_path), "--metrics", "sometimes")
    assert result.exit_code == 2 and "metrics must be one of" in result.output
