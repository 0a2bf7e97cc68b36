"""Customer accounts through HTTP: register, sign in and out, the address book, and the staff
console's session living beside the shop's."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from commerce.customers.models import Address, Customer
from commerce.customers.services import add_address
from commerce.extensions import db
from storefront.account import REGISTERED_MESSAGE
from tests.conftest import TEST_PASSWORD, base_config, sign_in

US = {
    "name": "Ada Lovelace",
    "line1": "1 Main St",
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country": "US",
}


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def shop_sign_in(client, customer, password=TEST_PASSWORD, **extra):
    return client.post(
        "/account/login", data={"email": customer.email, "password": password, **extra}
    )


@pytest.fixture
def shopper(client, make_customer):
    customer = make_customer(email="shopper@example.com")
    assert shop_sign_in(client, customer).status_code == 303
    return customer


def assert_private(response):
    assert response.headers["Cache-Control"] == "private, no-store"


class TestRegister:
    def test_register_then_sign_in(self, client):
        page = client.get("/account/register")
        assert page.status_code == 200
        assert_private(page)
        response = client.post(
            "/account/register",
            data={"name": "Ada", "email": "Ada@Example.com", "password": "long enough pw"},
        )
        assert response.status_code == 303
        assert response.headers["Location"] == "/account/login?next=/account"
        assert_private(response)
        assert client.get("/account").status_code == 303  # registering signs no one in
        signed_in = client.post(
            "/account/login", data={"email": "ada@example.com", "password": "long enough pw"}
        )
        assert signed_in.status_code == 303
        overview = client.get("/account")
        assert overview.status_code == 200
        assert "ada@example.com" in overview.text
        assert db.session.scalar(select(Customer.email)) == "ada@example.com"

    def test_a_taken_address_gets_the_same_answer_and_its_owner_an_email(
        self, app, client, make_customer, monkeypatch, tmp_path
    ):
        """The probe's replay: registration told whether an address had an account. Now both
        answers are the same redirect and message; the taken one signs no one in, changes
        nothing, and its owner hears about it through the outbox."""
        monkeypatch.setitem(app.config, "MAIL_DIR", str(tmp_path))
        owner = make_customer(email="taken@example.com")
        fresh = app.test_client()
        answers = []
        for shopper, email in ((fresh, "new@example.com"), (client, "TAKEN@example.com")):
            response = shopper.post(
                "/account/register", data={"email": email, "password": "another long pw"}
            )
            with shopper.session_transaction() as session:
                flashes = session.get("_flashes")
            answers.append((response.status_code, response.headers["Location"], flashes))
        assert answers[0] == answers[1]
        assert answers[1] == (
            303,
            "/account/login?next=/account",
            [("success", REGISTERED_MESSAGE)],
        )
        assert fresh.get("/account").status_code == 303  # nobody is signed in, either way
        assert client.get("/account").status_code == 303
        new_account = fresh.post(
            "/account/login", data={"email": "new@example.com", "password": "another long pw"}
        )
        assert new_account.status_code == 303  # the new account signs in with its password
        assert _count(Customer) == 2
        assert shop_sign_in(client, owner, password="another long pw").status_code == 422
        assert shop_sign_in(client, owner).status_code == 303  # the old password still works
        mails = {path.read_text(): path for path in Path(app.config["MAIL_DIR"]).rglob("*.eml")}
        attempt = [m for m in mails if "Someone tried to create an account" in m]
        assert len(attempt) == 1 and "To: taken@example.com" in attempt[0]
        welcome = [m for m in mails if "Subject: Welcome to" in m]
        assert len(welcome) == 1 and "To: new@example.com" in welcome[0]

    def test_the_owner_is_not_emailed_for_a_refused_form(
        self, app, client, make_customer, monkeypatch, tmp_path
    ):
        monkeypatch.setitem(app.config, "MAIL_DIR", str(tmp_path))
        make_customer(email="taken@example.com")
        response = client.post(
            "/account/register", data={"email": "taken@example.com", "password": "short"}
        )
        assert response.status_code == 422  # the password is checked first, for everyone
        assert list(Path(app.config["MAIL_DIR"]).rglob("*.eml")) == []

    def test_short_password(self, client):
        response = client.post(
            "/account/register", data={"email": "new@example.com", "password": "short"}
        )
        assert response.status_code == 422
        field_msg = response.text.split('id="password-msg"', 1)[1].split("</div>", 1)[0]
        assert "at least 12 characters" in field_msg
        assert _count(Customer) == 0
        assert client.get("/account").status_code == 303  # not signed in

    def test_next_is_kept_when_local(self, client):
        response = client.post(
            "/account/register?next=/c/mugs",
            data={"email": "n@example.com", "password": "long enough pw", "next": "/c/mugs"},
        )
        assert response.headers["Location"] == "/account/login?next=/c/mugs"


class TestSignIn:
    def test_sign_in_and_out(self, client, make_customer):
        customer = make_customer(email="c@example.com")
        response = shop_sign_in(client, customer)
        assert response.status_code == 303
        assert response.headers["Location"] == "/account"
        assert client.get("/account").status_code == 200
        out = client.post("/account/logout")
        assert out.status_code == 303
        assert_private(out)
        assert client.get("/account").status_code == 303

    def test_generic_failure(self, client, make_customer):
        customer = make_customer(email="c@example.com")
        make_customer(email="off@example.com", active=False)
        texts = []
        for email, password in (
            ("c@example.com", "wrong password"),
            ("nobody@example.com", TEST_PASSWORD),
            ("off@example.com", TEST_PASSWORD),
        ):
            response = client.post("/account/login", data={"email": email, "password": password})
            assert response.status_code == 422
            assert_private(response)
            texts.append(response.text.split("<main", 1)[1])
        assert "do not match an account" in texts[0]
        assert texts[0] == texts[1].replace("nobody@example.com", "c@example.com")
        assert client.get("/account").status_code == 303
        assert customer.last_sign_in_at is None

    @pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil"])
    def test_next_must_be_local(self, client, make_customer, target):
        customer = make_customer()
        response = shop_sign_in(client, customer, next=target)
        assert response.headers["Location"] == "/account"

    def test_old_session_version_signs_out(self, client, shopper):
        from commerce.customers.services import sign_out_everywhere

        sign_out_everywhere(shopper)
        assert client.get("/account").status_code == 303

    def test_sign_in_is_rate_limited(self, tmp_path):
        from wsgi import create_app

        app = create_app(
            base_config(tmp_path, RATELIMIT_ENABLED=True, SIGN_IN_RATE_LIMIT="3 per minute")
        )
        with app.app_context():
            db.create_all()
            client = app.test_client()
            codes = [
                client.post(
                    "/account/login", data={"email": "a@b.co", "password": "x" * 12}
                ).status_code
                for _ in range(5)
            ]
            assert codes == [422, 422, 422, 429, 429]
            assert client.get("/account/login").status_code == 200
            db.session.remove()
            db.drop_all()


class TestRequiresSignIn:
    @pytest.mark.parametrize(
        ("method", "url"),
        [
            ("get", "/account"),
            ("get", "/account/addresses/new"),
            ("post", "/account/addresses/new"),
            ("get", "/account/addresses/1"),
            ("post", "/account/addresses/1/delete"),
            ("post", "/account/addresses/1/default"),
        ],
    )
    def test_redirects_to_login(self, client, method, url):
        response = getattr(client, method)(url)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/account/login?next=")
        assert_private(response)

    def test_next_brings_you_back(self, client, make_customer):
        response = client.get("/account/addresses/new")
        assert response.headers["Location"] == "/account/login?next=/account/addresses/new"
        customer = make_customer()
        back = shop_sign_in(client, customer, next="/account/addresses/new")
        assert back.headers["Location"] == "/account/addresses/new"


class TestOverview:
    def test_empty_states(self, client, shopper):
        response = client.get("/account")
        assert response.status_code == 200
        assert_private(response)
        assert "No orders yet" in response.text
        assert "No saved addresses yet" in response.text

    def test_shop_header_is_the_same_for_everyone(self, client, shopper):
        response = client.get("/")
        assert response.headers["Cache-Control"].startswith("public")
        assert 'href="/account"' in response.text
        assert "shopper@example.com" not in response.text
        assert "Shopper" not in response.text
        assert "Set-Cookie" not in response.headers


class TestAddressBook:
    def test_add(self, client, shopper):
        assert client.get("/account/addresses/new").status_code == 200
        response = client.post("/account/addresses/new", data=US)
        assert response.status_code == 303
        address = db.session.scalar(select(Address))
        assert address.customer_id == shopper.id and address.is_default
        page = client.get("/account")
        assert "1 Main St" in page.text and "United States" in page.text

    @pytest.mark.parametrize(
        ("changes", "field", "message"),
        [
            ({"region": ""}, "region", "Enter a state"),
            ({"postal_code": "ABCDE"}, "postal_code", "ZIP code"),
            ({"country": "CA", "postal_code": "12345"}, "postal_code", "K1A 0B1"),
            ({"country": "GB", "region": "", "postal_code": "123"}, "postal_code", "SW1A 1AA"),
            ({"country": "DE", "region": "", "postal_code": "1234"}, "postal_code", "five-digit"),
            ({"name": "", "city": ""}, "city", "Enter a city"),
            ({"country": ""}, "country", "Choose a country"),
        ],
    )
    def test_add_invalid_is_422_and_saves_nothing(self, client, shopper, changes, field, message):
        response = client.post("/account/addresses/new", data={**US, **changes})
        assert response.status_code == 422
        assert_private(response)
        field_msg = response.text.split(f'id="{field}-msg"', 1)[1].split("</div>", 1)[0]
        assert message in field_msg
        assert _count(Address) == 0

    def test_edit(self, client, shopper):
        address = add_address(shopper, **US)
        page = client.get(f"/account/addresses/{address.id}")
        assert page.status_code == 200 and 'value="1 Main St"' in page.text
        response = client.post(f"/account/addresses/{address.id}", data={**US, "line1": "9 Elm St"})
        assert response.status_code == 303
        assert address.line1 == "9 Elm St"

    def test_edit_invalid_keeps_the_old_values(self, client, shopper):
        address = add_address(shopper, **US)
        response = client.post(
            f"/account/addresses/{address.id}", data={**US, "line1": "9 Elm St", "region": ""}
        )
        assert response.status_code == 422
        assert address.line1 == "1 Main St" and address.region == "IL"

    def test_delete_asks_then_deletes(self, client, shopper):
        address = add_address(shopper, **US)
        confirm = client.get(f"/account/addresses/{address.id}/delete")
        assert confirm.status_code == 200 and "Delete this address?" in confirm.text
        assert _count(Address) == 1
        response = client.post(f"/account/addresses/{address.id}/delete")
        assert response.status_code == 303
        assert _count(Address) == 0

    def test_set_default(self, client, shopper):
        first = add_address(shopper, **US)
        second = add_address(shopper, **{**US, "line1": "2 Main St"})
        response = client.post(f"/account/addresses/{second.id}/default")
        assert response.status_code == 303
        assert second.is_default and not first.is_default

    @pytest.mark.parametrize(
        ("method", "suffix"),
        [("get", ""), ("post", ""), ("get", "/delete"), ("post", "/delete"), ("post", "/default")],
    )
    def test_another_customers_address_is_404(self, client, shopper, make_customer, method, suffix):
        other = make_customer()
        theirs = add_address(other, **US)
        response = getattr(client, method)(
            f"/account/addresses/{theirs.id}{suffix}", data={**US, "line1": "Hijacked"}
        )
        assert response.status_code == 404
        assert theirs.line1 == "1 Main St" and _count(Address) == 1


class TestBesideTheConsole:
    def test_staff_and_shop_sessions_both_work(self, client, make_staff, make_customer):
        member = make_staff("merchandiser")
        assert sign_in(client, member).status_code == 303
        customer = make_customer()
        assert shop_sign_in(client, customer).status_code == 303
        assert client.get("/console/").status_code == 200
        assert client.get("/account").status_code == 200
        # Signing out of the shop keeps the console session, and the other way round.
        client.post("/account/logout")
        assert client.get("/console/").status_code == 200
        assert client.get("/account").status_code == 303
        shop_sign_in(client, customer)
        client.post("/console/logout")
        assert client.get("/account").status_code == 200


class TestCsrf:
    def test_forms_carry_a_token(self, app, client, shopper):
        app.config["WTF_CSRF_ENABLED"] = True
        try:
            assert 'name="csrf_token"' in client.get("/account/addresses/new").text
            assert client.post("/account/addresses/new", data=US).status_code == 400
            assert client.post("/account/logout").status_code == 400
        finally:
            app.config["WTF_CSRF_ENABLED"] = False
        assert _count(Address) == 0


def test_shop_sign_in_keeps_the_staff_remember_me(client, make_staff, make_customer):
    """A session holding only the shop's key must not look stolen to Flask-Login's "strong"
    protection (which would clear the console's remember-me cookie)."""
    member = make_staff("merchandiser")
    assert sign_in(client, member, remember="y").status_code == 303
    assert client.get_cookie("console_remember", path="/console") is not None
    client.delete_cookie("session")  # the browser was closed: only remember-me is left
    assert shop_sign_in(client, make_customer()).status_code == 303
    home = client.get("/")
    assert "Set-Cookie" not in home.headers
    assert client.get("/console/").status_code == 200
    assert client.get("/account").status_code == 200
