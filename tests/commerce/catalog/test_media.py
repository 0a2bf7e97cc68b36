from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from commerce.catalog.media import add_external_image, add_image, delete_image, move_image
from commerce.errors import ValidationError


def png_bytes(size=(64, 48), colour=(10, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_upload_stores_file_and_thumbnail(app, make_product):
    product = make_product()
    media = add_image(product, data=png_bytes(), filename="shirt.png", alt="Front", by=None)
    root = Path(app.config["MEDIA_ROOT"])
    assert (root / media.path).exists() and (root / media.thumb_path).exists()
    assert (media.width, media.height, media.content_type) == (64, 48, "image/png")


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "Choose"), (b"GIF89a-not-really", "not an image"), (b"%PDF-1.4 fake", "not an image")],
)
def test_bad_uploads_are_refused(make_product, data, message):
    product = make_product()
    with pytest.raises(ValidationError) as caught:
        add_image(product, data=data, filename="x.png", by=None)
    assert message in caught.value.message and caught.value.field == "image"
    assert product.media == []


def test_oversized_upload_is_refused(app, make_product, monkeypatch):
    monkeypatch.setitem(app.config, "MEDIA_MAX_BYTES", 100)
    with pytest.raises(ValidationError) as caught:
        add_image(make_product(), data=png_bytes((400, 400)), filename="big.png", by=None)
    assert "at most" in caught.value.message


def test_order_and_delete(app, make_product):
    product = make_product()
    first = add_image(product, data=png_bytes(), filename="1.png", by=None)
    second = add_external_image(product, url="https://cdn.example.com/2.jpg", by=None)
    move_image(second, to_position=1, by=None)
    assert [m.id for m in sorted(product.media, key=lambda m: m.position)] == [second.id, first.id]
    path = Path(app.config["MEDIA_ROOT"]) / first.path
    delete_image(first, by=None)
    assert not path.exists()
    assert [m.position for m in product.media] == [1]


def test_external_url_must_be_http(make_product):
    with pytest.raises(ValidationError):
        add_external_image(make_product(), url="javascript:alert(1)", by=None)


def test_a_file_shared_by_two_images_survives_one_delete(app, make_product):
    from commerce.catalog.models import Media
    from commerce.extensions import db

    first, second = make_product(), make_product()
    media = add_image(first, data=png_bytes(), filename="shared.png", by=None)
    twin = Media(
        product=second, kind="file", path=media.path, thumb_path=media.thumb_path, position=1
    )
    db.session.add(twin)
    db.session.commit()
    delete_image(media, by=None)
    assert (Path(app.config["MEDIA_ROOT"]) / twin.path).exists()
    delete_image(twin, by=None)
    assert not (Path(app.config["MEDIA_ROOT"]) / twin.path).exists()
