"""The README's backup and restore, run as written (its shell blocks, with Debian's pg_dump and
pg_restore) on a shop with orders, images and its own secret key; then the restored shop is
checked: the same rows in every table, the schema at head, the files there, and gunicorn on the
restored database and folder serving a product page, its image, an order's status page (a link
signed before the backup) and the console's order page."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from bench._server import LiveServer
from commerce.extensions import db
from tests.conftest import TEST_PASSWORD, base_config, reset_postgres

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
pytestmark = pytest.mark.postgres


def readme_block(first_line: str) -> str:
    """The README's ```sh block that starts with `first_line` (the commands the user runs)."""
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"README has no sh block starting {first_line!r}")


def run_block(first_line: str, env: dict[str, str]) -> str:
    venv_bin = str(Path(sys.executable).parent)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_block(first_line)],
        cwd=ROOT,
        env={
            **os.environ,
            "PATH": f"{venv_bin}:{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{first_line}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def libpq(url: str, database: str | None = None) -> str:
    """A SQLAlchemy URL as the PostgreSQL tools take it (no +psycopg)."""
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def drop_database(url: str, name: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def table_rows(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            ).scalars()
            return {
                n: conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names
            }
    finally:
        engine.dispose()


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, format="PNG")
    return out.getvalue()


def build_shop() -> dict[str, Any]:
    """Orders through the checkout, a customer with an address, a product image on disk and a
    staff member (call inside the source app's context)."""
    from commerce.catalog.media import add_image
    from commerce.checkout.cart import add_to_cart
    from commerce.checkout.services import (
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )
    from commerce.customers.services import add_address
    from commerce.orders.emails import order_status_url
    from commerce.staff.services import create_staff
    from tests.conftest import TEST_CARD, US_ADDRESS, build_checkout_shop

    shop = build_checkout_shop()
    media = add_image(shop.product, data=png(), filename="tee.png", by=None)
    orders = []
    for quantity in (1, 2, 3):
        checkout = start_checkout(add_to_cart(None, variant_id=shop.small, quantity=quantity))
        save_information(checkout, email=f"buyer{quantity}@example.com", address=US_ADDRESS)
        choose_shipping_method(checkout, code="STD")
        orders.append(place_order(checkout.key, card=TEST_CARD).order)
    from commerce.customers.models import Customer

    customer = Customer(email="maya@example.com", name="Maya", password_hash="x")
    db.session.add(customer)
    db.session.commit()
    add_address(
        customer, name="Maya", line1="1 Rue X", city="Paris", postal_code="75001", country="FR"
    )
    staff = create_staff("ops@example.com", role="support", password=TEST_PASSWORD, by=None)
    order = orders[-1]
    facts = {
        "handle": shop.product.handle,
        "title": shop.product.title,
        "media_path": media.path,
        "order_id": order.id,
        "order_number": order.number,
        "status_path": order_status_url(order).split("://", 1)[1].split("/", 1)[1],
        "staff_email": staff.email,
    }
    db.session.remove()
    return facts


def test_the_documented_backup_restores_a_working_shop(pg_url, tmp_path, monkeypatch):
    from flask_migrate import upgrade

    from wsgi import create_app

    monkeypatch.delenv("SECRET_KEY", raising=False)
    source_db = make_url(pg_url).database
    new_db = f"{source_db}_restored"
    new_url = libpq(pg_url, new_db)
    drop_database(pg_url, new_db)
    reset_postgres(pg_url)

    # The shop, with the key in instance/secret_key (no SECRET_KEY), as the embedded default.
    instance = tmp_path / "instance"
    config = base_config(instance, SQLALCHEMY_DATABASE_URI=pg_url)
    config.pop("SECRET_KEY")
    config.pop("MEDIA_ROOT")
    config.pop("IMPORT_ROOT")
    app = create_app(config)
    with app.app_context():
        from alembic.script import ScriptDirectory

        upgrade()
        migrate = app.extensions["migrate"].migrate
        head = ScriptDirectory.from_config(migrate.get_config()).get_current_head()
        facts = build_shop()
        db.engine.dispose()
    assert (instance / "secret_key").exists()
    assert (instance / "media" / facts["media_path"]).exists()
    before = table_rows(pg_url)
    assert before["shop_order"] == 3 and before["media"] == 1 and before["customer_address"] == 1

    backup, new_instance = tmp_path / "backup", tmp_path / "restored"
    backup.mkdir()
    try:
        run_block(
            "# Back up:", {"PGURL": libpq(pg_url), "INSTANCE": str(instance), "BACKUP": str(backup)}
        )
        restore_env = {
            "PGURL": libpq(pg_url),
            "NEW_DB": new_db,
            "NEW_URL": new_url,
            "NEW_INSTANCE": str(new_instance),
            "BACKUP": str(backup),
        }
        run_block("# Restore:", restore_env)
        checked = run_block("# Check:", restore_env)

        # Every table has the same rows; the check block says head, counts, no missing file.
        assert table_rows(new_url) == before
        assert f"{head} (head)" in checked
        assert "orders|3" in checked and "products|1" in checked and "customers|1" in checked
        assert "missing" not in checked
        assert (new_instance / "secret_key").read_text() == (instance / "secret_key").read_text()
        restored_media = new_instance / "media" / facts["media_path"]
        assert (
            restored_media.read_bytes() == (instance / "media" / facts["media_path"]).read_bytes()
        )

        _serve_the_restored_shop(new_url, new_instance, facts)
        _new_rows_follow_the_old_ones(new_url, new_instance, facts)
    finally:
        drop_database(pg_url, new_db)
        reset_postgres(pg_url)


def _serve_the_restored_shop(new_url: str, new_instance: Path, facts: dict[str, Any]) -> None:
    database_url = make_url(new_url).set(drivername="postgresql+psycopg")
    server = LiveServer(
        database_url=database_url.render_as_string(hide_password=False),
        redis_url="",  # in-process cache and limits: Redis holds nothing to restore
        instance=new_instance,
        workers=1,
        threads=4,
        # The restored folder's own key and media, not the live server's test defaults.
        env={"SECRET_KEY": "", "MEDIA_ROOT": "", "MAIL_DIR": str(new_instance / "mail")},
    )
    with server:
        http = requests.Session()
        product = http.get(f"{server.url}/products/{facts['handle']}", timeout=10)
        assert product.status_code == 200 and facts["title"] in product.text
        image = re.search(r'src="(/media/[^"]+)"', product.text)
        assert image, "the product page shows its image"
        served = http.get(server.url + image.group(1), timeout=10)
        assert served.status_code == 200 and served.content.startswith(b"\x89PNG")

        # A link signed before the backup still opens the order: the secret key came back.
        status = http.get(f"{server.url}/{facts['status_path']}", timeout=10)
        assert status.status_code == 200 and f"#{facts['order_number']}" in status.text

        # Staff sign in with their password and open the order in the console.
        login = http.get(f"{server.url}/console/login", timeout=10)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login.text)
        assert token, "the sign-in form carries its CSRF token"
        signed_in = http.post(
            f"{server.url}/console/login",
            data={
                "csrf_token": token.group(1),
                "email": facts["staff_email"],
                "password": TEST_PASSWORD,
            },
            allow_redirects=False,
            timeout=10,
        )
        assert signed_in.status_code == 303, signed_in.text[:500]
        page = http.get(f"{server.url}/console/orders/{facts['order_id']}", timeout=10)
        assert page.status_code == 200 and f"#{facts['order_number']}" in page.text
        assert not server.tracebacks(), server.log_tail()


def _new_rows_follow_the_old_ones(new_url: str, new_instance: Path, facts: dict[str, Any]) -> None:
    """The sequences came back too: a new product takes the next id, not an old one."""
    from commerce.catalog.models import Product
    from commerce.catalog.services import create_product
    from wsgi import create_app

    database_url = make_url(new_url).set(drivername="postgresql+psycopg")
    config = base_config(
        new_instance, SQLALCHEMY_DATABASE_URI=database_url.render_as_string(hide_password=False)
    )
    app = create_app(config)
    with app.app_context():
        highest = db.session.scalar(select(func.max(Product.id)))
        made = create_product(title="After the restore", price=100, by=None)
        assert made.id > highest
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _tools():
    for tool in ("pg_dump", "pg_restore", "createdb", "psql", "tar"):
        if shutil.which(tool) is None:
            pytest.fail(
                f"{tool} is needed (Debian's postgresql-client, as `make postgres` installs)"
            )
