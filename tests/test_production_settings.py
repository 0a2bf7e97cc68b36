"""A production host refuses to start with a public development secret (the probe's finding:
the payment webhook secret defaulted to a value printed in the repository, so anyone could sign
a "payment succeeded" webhook). Production: PRODUCTION=1, or SECURE_COOKIES=1 as the README's
production recipe sets it. The embedded mode (`make run`) and the tests start as before."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from commerce.config import DEV_WEBHOOK_SECRET, ROOT, UnsafeSettings, load_config

STRONG_KEY = "k" * 48
WEBHOOK = "whsec_" + "w" * 40


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("SECRET_KEY", "PAYMENTS_WEBHOOK_SECRET", "PRODUCTION", "SECURE_COOKIES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    return monkeypatch


def test_production_with_the_development_webhook_secret_refuses_to_start(clean_env):
    clean_env.setenv("SECURE_COOKIES", "1")
    clean_env.setenv("SECRET_KEY", STRONG_KEY)
    with pytest.raises(UnsafeSettings) as refused:
        load_config()
    assert "PAYMENTS_WEBHOOK_SECRET is the public development value" in str(refused.value)
    assert "SECRET_KEY" not in str(refused.value).split(":", 1)[1]


@pytest.mark.parametrize("key", [None, "test-secret", "short-but-set"])
def test_production_without_a_real_secret_key_refuses_to_start(clean_env, key):
    clean_env.setenv("PRODUCTION", "1")
    clean_env.setenv("PAYMENTS_WEBHOOK_SECRET", WEBHOOK)
    if key:
        clean_env.setenv("SECRET_KEY", key)
    with pytest.raises(UnsafeSettings) as refused:
        load_config()
    assert "SECRET_KEY" in str(refused.value)


def test_production_with_real_secrets_starts(clean_env):
    clean_env.setenv("SECURE_COOKIES", "1")
    clean_env.setenv("SECRET_KEY", STRONG_KEY)
    clean_env.setenv("PAYMENTS_WEBHOOK_SECRET", WEBHOOK)
    config = load_config()
    assert config["PRODUCTION"] is True and config["SECRET_KEY"] == STRONG_KEY


def test_the_embedded_mode_starts_with_its_development_defaults(clean_env):
    config = load_config()
    assert config["PRODUCTION"] is False
    assert config["PAYMENTS_WEBHOOK_SECRET"] == DEV_WEBHOOK_SECRET
    assert len(config["SECRET_KEY"]) >= 32  # the instance's own generated key


def test_the_app_process_exits_with_a_message_naming_the_setting(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "PAYMENTS_WEBHOOK_SECRET", "PRODUCTION")
    }
    env.update(SECURE_COOKIES="1", SECRET_KEY=STRONG_KEY, INSTANCE_PATH=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", "from wsgi import create_app; create_app()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "PAYMENTS_WEBHOOK_SECRET is the public development value" in result.stderr
