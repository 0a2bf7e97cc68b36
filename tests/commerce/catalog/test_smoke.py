from commerce.catalog.models import Product


def test_create_product_with_variants(make_product):
    product = make_product(
        "Linen shirt", options=[("Size", ["S", "M"]), ("Colour", ["Blue", "Sand"])]
    )
    assert isinstance(product, Product)
    assert product.variant_count == 4
    assert product.handle == "linen-shirt"
