"""A tiny learnable image folder, made in the test: three classes of coloured shapes (a disc, a
square, a triangle) at random places, sizes and shades on a noisy background, written as PNGs
in torchvision's ImageFolder layout (train/<class>/*.png, val/<class>/*.png)."""

from __future__ import annotations

import random
from pathlib import Path

CLASSES = ("disc", "square", "triangle")
HUES = {"disc": (220, 60, 60), "square": (60, 200, 60), "triangle": (60, 90, 230)}


def draw(shape: str, size: int, rng: random.Random):
    from PIL import Image, ImageDraw

    noise = bytes(rng.randrange(0, 70) for _ in range(size * size * 3))
    image = Image.frombytes("RGB", (size, size), noise)
    side = rng.randint(size // 3, size * 2 // 3)
    x, y = rng.randint(0, size - side), rng.randint(0, size - side)
    colour = tuple(min(255, max(0, c + rng.randint(-30, 30))) for c in HUES[shape])
    pen = ImageDraw.Draw(image)
    if shape == "disc":
        pen.ellipse((x, y, x + side, y + side), fill=colour)
    elif shape == "square":
        pen.rectangle((x, y, x + side, y + side), fill=colour)
    else:
        pen.polygon([(x + side // 2, y), (x, y + side), (x + side, y + side)], fill=colour)
    return image


def make_folder(root: Path, train: int = 24, val: int = 8, size: int = 32, seed: int = 0) -> Path:
    rng = random.Random(seed)
    for part, count in (("train", train), ("val", val)):
        for shape in CLASSES:
            folder = root / part / shape
            folder.mkdir(parents=True)
            for i in range(count):
                draw(shape, size, rng).save(folder / f"{i:03d}.png")
    return root
