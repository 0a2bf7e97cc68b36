"""Placeholder product photos: one small PNG (and thumbnail) per product type and colour.

Products share these files, so a 50,000-product demo still writes only a few hundred images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from slugify import slugify

SIZE = 640
THUMB = 320
FOLDER = "demo"


@dataclass(frozen=True)
class Placeholder:
    path: str
    thumb_path: str
    width: int
    height: int
    size_bytes: int
    filename: str


def _tint(rgb: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    r, g, b = rgb
    return (
        int(r + (255 - r) * amount),
        int(g + (255 - g) * amount),
        int(b + (255 - b) * amount),
    )


def _draw(label: str, rgb: tuple[int, int, int], shape: str) -> Image.Image:
    img = Image.new("RGB", (SIZE, SIZE), _tint(rgb, 0.82))
    draw = ImageDraw.Draw(img)
    box = (SIZE * 0.25, SIZE * 0.18, SIZE * 0.75, SIZE * 0.68)
    if shape == "circle":
        draw.ellipse(box, fill=rgb)
    elif shape == "mountain":
        draw.polygon(
            [(box[0], box[3]), ((box[0] + box[2]) / 2, box[1]), (box[2], box[3])], fill=rgb
        )
    else:
        draw.rounded_rectangle(box, radius=SIZE // 16, fill=rgb)
    font = ImageFont.load_default(size=SIZE // 16)
    draw.text((SIZE / 2, SIZE * 0.82), label, fill=(40, 40, 40), font=font, anchor="mm")
    return img


def _save(img: Image.Image, path: Path) -> None:
    """Write then rename, so a concurrent or interrupted load never leaves half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    img.save(partial, "PNG", compress_level=1)
    os.replace(partial, path)


def placeholder(
    media_root: Path, product_type: str, colour: str, rgb: tuple[int, int, int], shape: str
) -> Placeholder:
    """The shared image for this type and colour, drawn on first use and reused after."""
    stem = slugify(f"{product_type}-{colour}")
    rel, rel_thumb = f"{FOLDER}/{stem}.png", f"{FOLDER}/{stem}_thumb.png"
    path, thumb = media_root / rel, media_root / rel_thumb
    if not (path.exists() and thumb.exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        img = _draw(f"{product_type} · {colour}", rgb, shape)
        _save(img, path)
        _save(img.resize((THUMB, THUMB)), thumb)
    return Placeholder(rel, rel_thumb, SIZE, SIZE, path.stat().st_size, f"{stem}.png")
