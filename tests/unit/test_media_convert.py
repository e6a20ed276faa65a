"""Stickers and voice notes as WhatsApp shows them (server/core/media_convert.py): Pillow's 512x512 WebP, ffmpeg's
OGG/Opus, and the 64-sample waveform."""

from __future__ import annotations

import io
import random
import struct
import subprocess

import pytest
from PIL import Image

from server.core import media_convert
from server.core.errors import ApiError


def image(kind: str, size: tuple[int, int], **save: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA" if kind != "JPEG" else "RGB", size, (200, 10, 10)).save(out, format=kind, **save)
    return out.getvalue()


def tone(codec: list[str], seconds: float = 2.0) -> bytes:
    return subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=500:duration={seconds}",
                           "-ac", "1", *codec, "-"], capture_output=True, check=True).stdout


def pcm(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}h", *values)


def test_the_waveform_is_64_levels_scaled_to_the_loudest():
    rising = pcm([value for level in range(64) for value in (level * 100, -level * 100) * 4])
    shape = media_convert.waveform(rising)
    assert len(shape) == 64 and max(shape) == 100 and shape[0] == 0
    assert list(shape) == sorted(shape)  # louder and louder
    assert media_convert.waveform(pcm([0] * 1000)) == bytes(64)  # silence stays flat
    assert media_convert.waveform(b"") == bytes(64)
    assert len(media_convert.waveform(pcm([1000, -1000, 500]))) == 64  # fewer samples than levels


def test_png_and_jpeg_become_a_512_webp_in_proportion():
    for kind, size in (("PNG", (100, 50)), ("JPEG", (30, 90)), ("PNG", (2000, 2000))):
        sticker = media_convert.sticker(image(kind, size))
        with Image.open(io.BytesIO(sticker)) as made:
            assert (made.format, made.size) == ("WEBP", (512, 512))
            rgba = made.convert("RGBA")
            corner = rgba.getpixel((0, 0))
            middle = rgba.getpixel((256, 256))
            assert middle[3] == 255  # the image, centred
            if size[0] != size[1]:
                assert corner[3] == 0  # the rest of the square is transparent


def test_a_webp_goes_as_it_is_and_other_images_or_big_stickers_are_refused():
    webp = image("WEBP", (512, 512))
    assert media_convert.sticker(webp) == webp
    with pytest.raises(ApiError) as caught:
        media_convert.sticker(image("GIF", (10, 10)))
    assert caught.value.metadata == {"field": "media"} and "GIF" in caught.value.message
    with pytest.raises(ApiError):
        media_convert.sticker(b"not an image", "messages[2].content.media")
    noise = Image.frombytes("RGB", (900, 900), random.Random(1).randbytes(900 * 900 * 3))
    big = io.BytesIO()
    noise.save(big, format="WEBP", lossless=True)
    with pytest.raises(ApiError) as caught:
        media_convert.sticker(big.getvalue())
    assert "at most 1024 KiB" in caught.value.message


def test_audio_becomes_an_opus_voice_note_with_its_length():
    note = media_convert.voice_note(tone(["-f", "mp3"], 2.0))
    assert note.data[:4] == b"OggS" and note.seconds == 2 and len(note.waveform) == 64
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", "-"],
                           input=note.data, capture_output=True, check=True).stdout.decode().strip()
    assert probe == "opus"
    again = media_convert.voice_note(note.data)  # already OGG/Opus: not converted twice
    assert again.data == note.data and again.seconds == 2


def test_what_is_not_audio_is_no_voice_note():
    with pytest.raises(ApiError) as caught:
        media_convert.voice_note(image("PNG", (4, 4)), "media.data")
    assert caught.value.metadata == {"field": "media.data"}
