"""An order with nothing shipped offers no empty return form and says why (issue 16: 4)."""

from __future__ import annotations


def test_nothing_shipped_means_no_return_form_and_a_reason(client, login, place) -> None:
    login("support")
    order = place()
    page = client.get(f"/console/orders/{order.id}").get_data(as_text=True)
    returns = page.split('id="returns-title"', 1)[1].split("</section>", 1)[0]
    assert "Open a return" not in returns and "<form" not in returns
    assert "nothing has shipped" in returns
