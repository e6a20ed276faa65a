"""Reading QR codes back as a phone would, to prove what the gateway shows can be scanned: from an image (a PNG,
a screenshot of the console) or from a terminal (the CLI's half-block characters)."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image

# The CLI's compact terminal QR codes: each character is two modules, one above the other; a drawn half is light
# (on a dark terminal), a blank one dark.
_HALVES = {"█": (1, 1), "▀": (1, 0), "▄": (0, 1), " ": (0, 0)}


def decode_image(png: bytes) -> list[str]:
    """The texts of the QR codes in an image."""
    return [barcode.text for barcode in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def terminal_blocks(text: str) -> list[list[str]]:
    """The runs of lines in `text` that are drawn with half-blocks only: one per QR code printed."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.strip() and set(line) <= set(_HALVES):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    return blocks


def decode_terminal(lines: list[str], scale: int = 6) -> list[str]:
    """The texts of a QR code drawn in a terminal with half-blocks (one block of terminal_blocks)."""
    width = max(len(line) for line in lines)
    image = Image.new("L", (width * scale, len(lines) * 2 * scale), 0)
    for row, line in enumerate(lines):
        for column, char in enumerate(line):
            for half, light in enumerate(_HALVES[char]):
                if light:
                    top = (row * 2 + half) * scale
                    image.paste(255, (column * scale, top, (column + 1) * scale, top + scale))
    png = io.BytesIO()
    image.save(png, format="PNG")
    return decode_image(png.getvalue())
