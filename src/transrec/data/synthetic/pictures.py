"""Item pictures whose shape, colour and texture follow the item's content, written as small JPEGs."""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from transrec.data.synthetic.files import replace_dir, write_bytes
from transrec.logs import progress

log = logging.getLogger(__name__)

SHAPES = ("disc", "square", "hstripes", "vstripes", "triangle", "ring", "diagonal", "cross", "dots")
PALETTE = np.array(
    [
        (20, 20, 20),
        (235, 235, 230),
        (200, 40, 40),
        (40, 70, 170),
        (60, 140, 70),
        (230, 200, 60),
        (240, 150, 180),
        (120, 80, 50),
        (140, 140, 150),
        (100, 170, 220),
        (110, 30, 60),
        (250, 130, 40),
        (30, 110, 110),
        (170, 120, 200),
        (210, 190, 150),
        (90, 100, 40),
        (20, 40, 80),
    ],
    dtype=np.int64,
)


def category_style(category: int) -> tuple[str, np.ndarray]:
    """The shape and base colour of a category (distinct for up to 17 x 9 categories)."""
    return SHAPES[category % len(SHAPES)], PALETTE[category % len(PALETTE)]


@functools.lru_cache(maxsize=8)
def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (y, x), float32."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return y, x


# a content word's texture: 4 orientations x 2 frequencies (cycles per picture side), in coordinates relative to the
# picture's size, so a 32 x 48 source picture and a square target picture resized alike show the same pattern
TEXTURE_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
TEXTURE_CYCLES = (3.0, 6.0)
TEXTURE_CONTRAST = 0.25


def texture(word: int, width: int, height: int) -> np.ndarray:
    """The (height, width) grating in [-1, 1] of a word index inside its category's vocabulary."""
    y, x = _grid(width, height)
    angle = TEXTURE_ANGLES[word % len(TEXTURE_ANGLES)]
    cycles = TEXTURE_CYCLES[(word // len(TEXTURE_ANGLES)) % len(TEXTURE_CYCLES)]
    return np.cos(2 * np.pi * cycles * (x / width * np.cos(angle) + y / height * np.sin(angle)))


def draw(
    rng: np.random.Generator,
    shape: str,
    colour: np.ndarray,
    width: int,
    height: int,
    noise: int = 10,
    words: tuple[int, ...] = (),
) -> np.ndarray:
    """An (height, width, 3) uint8 picture: a jittered `shape` in `colour` on a light, noisy background; the item's
    content `words` shade it as textures, the first word's over the top half, the second's over the bottom half."""
    y, x = _grid(width, height)
    cx, cy = width * rng.uniform(0.4, 0.6), height * rng.uniform(0.4, 0.6)
    r = min(width, height) * rng.uniform(0.25, 0.4)
    dx, dy = x - cx, y - cy
    period = max(4.0, min(width, height) * rng.uniform(0.08, 0.16))
    if shape == "disc":
        mask = dx * dx + dy * dy < r * r
    elif shape == "square":
        mask = (np.abs(dx) < r) & (np.abs(dy) < r)
    elif shape == "hstripes":
        mask = (y // period) % 2 == 0
    elif shape == "vstripes":
        mask = (x // period) % 2 == 0
    elif shape == "triangle":
        mask = (dy < r) & (dy > -r) & (np.abs(dx) < (dy + r) / 2)
    elif shape == "ring":
        d2 = dx * dx + dy * dy
        mask = (d2 < r * r) & (d2 > (0.6 * r) ** 2)
    elif shape == "diagonal":
        mask = ((x + y) // period) % 2 == 0
    elif shape == "cross":
        mask = ((np.abs(dx) < r / 3) & (np.abs(dy) < r)) | ((np.abs(dy) < r / 3) & (np.abs(dx) < r))
    else:
        mask = ((x % (2 * period)) - period) ** 2 + ((y % (2 * period)) - period) ** 2 < (period * 0.6) ** 2
    tint = np.clip(colour + rng.integers(-25, 26, 3), 0, 255).astype(np.int16)
    background = rng.integers(200, 250, 3).astype(np.int16)
    image = np.where(mask[..., None], tint, background).astype(np.float32)
    bands = np.array_split(np.arange(height), max(len(words), 1))
    for word, rows in zip(words, bands):
        image[rows] *= 1 + TEXTURE_CONTRAST * texture(int(word), width, height)[rows, :, None]
    image += rng.integers(-noise, noise + 1, (height, width, 1))
    return np.clip(image, 0, 255).astype(np.uint8)


def encode_jpeg(pixels: np.ndarray, quality: int = 88) -> bytes:
    """JPEG bytes of an (H, W, 3) uint8 array."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def write_pictures(
    rng: np.random.Generator,
    folder: Path,
    names: list[str],
    categories: np.ndarray,
    colours: np.ndarray | None,
    width: int,
    height: int,
    words: np.ndarray | None = None,
) -> list[Path]:
    """Draw one JPEG per name (a path relative to `folder`) and swap the whole folder in at the end; `words`
    (I, key_words) are the content words each picture shows as textures."""
    with replace_dir(folder) as staging:
        for i, name in enumerate(progress(names, "synthetic images")):
            shape, colour = category_style(int(categories[i]))
            if colours is not None:
                colour = colours[i]
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            shown = () if words is None else tuple(int(w) for w in words[i])
            path.write_bytes(encode_jpeg(draw(rng, shape, colour, width, height, words=shown)))
    return [folder / name for name in names]


def corrupt_pictures(rng: np.random.Generator, paths: list[Path], count: int) -> list[Path]:
    """Damage `count` of the written pictures: alternately truncate to 40 % of the bytes or overwrite with junk."""
    chosen = [paths[i] for i in sorted(rng.choice(len(paths), min(count, len(paths)), replace=False))]
    for k, path in enumerate(chosen):
        data = path.read_bytes()
        write_bytes(path, data[: len(data) * 2 // 5] if k % 2 == 0 else b"not an image " + data[:64][::-1])
    log.info("corrupted %d synthetic images on purpose", len(chosen))
    return chosen
