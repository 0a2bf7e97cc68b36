from __future__ import annotations

from commerce.staff.services import authenticate, find_staff_by_email


def test_staff_create_command(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "staff",
            "create",
            "Ops@Example.com",
            "--role",
            "warehouse",
            "--password",
            "a long password",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Created warehouse ops@example.com" in result.output
    assert authenticate("ops@example.com", "a long password") is not None
    again = runner.invoke(args=["staff", "create", "ops@example.com", "--role", "admin"])
    assert again.exit_code == 1 and "already exists" in again.output
    bad = runner.invoke(args=["staff", "create", "x@example.com", "--role", "owner"])
    assert bad.exit_code == 2 and find_staff_by_email("x@example.com") is None


def test_generated_password_is_printed(app):
    result = app.test_cli_runner().invoke(
        args=["staff", "create", "gen@example.com", "--role", "support"]
    )
    password = result.output.rsplit("password ", 1)[1].strip()
    assert authenticate("gen@example.com", password) is not None


def test_demo_load_command_prints_a_login_per_role(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "load", "--products", "30", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "Loaded 32 products" in result.output  # 30, and the extras' gift card and bundle
    for role in ("admin", "merchandiser", "warehouse", "support"):
        assert f"{role}@demo.shop" in result.output
    again = runner.invoke(args=["demo", "load", "--quiet"])
    assert "nothing loaded" in again.output and "admin@demo.shop" in again.output
    assert "Delivered" in runner.invoke(args=["outbox", "dispatch"]).output


def test_every_beat_entry_names_a_registered_task(app):
    celery = app.extensions["celery"]
    for entry in celery.conf.beat_schedule.values():
        assert entry["task"] in celery.tasks, entry["task"]
