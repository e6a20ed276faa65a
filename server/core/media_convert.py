"""Media made into what WhatsApp shows: stickers (512x512 WebP, Pillow) and voice notes (OGG/Opus with their
duration and waveform, ffmpeg).

WhatsApp plays a push-to-talk voice note only as OGG/Opus, and draws it from a waveform the sender computes: 64
loudness samples from 0 to 100. Stickers are WebP images of 512x512 at most 1 MiB (static). Both conversions run
where the bytes first are: the API server for inline media (so a bad file is refused before anything is
accepted), the engine host for media by URL (downloaded when the message goes out). ffmpeg is Debian's
(`make setup` installs it); it reads and writes temporary files, since MP4/M4A audio cannot be read from a pipe.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from server.core.errors import ApiError, invalid

STICKER_SIZE = 512
STICKER_MAX_BYTES = 1024 * 1024
# What the gateway calls a voice note's type; WhatsApp's message says "audio/ogg; codecs=opus" (the engines add it).
VOICE_MIMETYPE = "audio/ogg"
WAVEFORM_SAMPLES = 64
# Mono 16-bit PCM at this rate is plenty to measure loudness and length.
_PCM_RATE = 8000
_FFMPEG_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class VoiceNote:
    data: bytes  # OGG/Opus
    seconds: int
    waveform: bytes  # WAVEFORM_SAMPLES values, 0 to 100


def sticker(data: bytes, field: str = "media") -> bytes:
    """A WebP sticker: WebP as it is, PNG or JPEG fitted into 512x512 (kept in proportion, on a transparent
    square). VALIDATION_ERROR naming `field` for other images, or a sticker over 1 MiB."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            if kind == "WEBP":
                converted = data
            elif kind in ("PNG", "JPEG"):
                converted = _fit(image)
            else:
                raise invalid(field, f"a sticker must be WebP, PNG or JPEG, not {kind or 'this file'}")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise invalid(field, "is not an image (a sticker must be WebP, PNG or JPEG)") from None
    if len(converted) > STICKER_MAX_BYTES:
        raise invalid(field, f"the sticker is {len(converted) // 1024} KiB as WebP; WhatsApp takes at most "
                             f"{STICKER_MAX_BYTES // 1024} KiB")
    return converted


def _fit(image: Image.Image) -> bytes:
    image = image.convert("RGBA")
    image.thumbnail((STICKER_SIZE, STICKER_SIZE), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (STICKER_SIZE, STICKER_SIZE), (0, 0, 0, 0))
    canvas.paste(image, ((STICKER_SIZE - image.width) // 2, (STICKER_SIZE - image.height) // 2))
    out = io.BytesIO()
    canvas.save(out, format="WEBP", quality=80, method=4)
    return out.getvalue()


def voice_note(data: bytes, field: str = "media") -> VoiceNote:
    """A voice note from any audio ffmpeg reads: OGG/Opus as it is, anything else converted; with its length in
    seconds (at least 1) and its waveform. VALIDATION_ERROR naming `field` when the file holds no audio."""
    with tempfile.TemporaryDirectory(prefix="wagw-voice-") as tmp:
        source = Path(tmp) / "in"
        source.write_bytes(data)
        if _codec(source) == "opus" and data[:4] == b"OggS":
            ogg = data
        else:
            target = Path(tmp) / "out.ogg"
            _ffmpeg(["-i", str(source), "-vn", "-map_metadata", "-1", "-ac", "1", "-ar", "48000",
                     "-c:a", "libopus", "-b:a", "32k", "-application", "voip", "-f", "ogg", str(target)], field)
            ogg, source = target.read_bytes(), target
        pcm = _ffmpeg(["-i", str(source), "-vn", "-ac", "1", "-ar", str(_PCM_RATE), "-f", "s16le", "-"], field)
    samples = len(pcm) // 2
    return VoiceNote(ogg, max(1, round(samples / _PCM_RATE)), waveform(pcm))


def waveform(pcm: bytes, count: int = WAVEFORM_SAMPLES) -> bytes:
    """`count` loudness values from 0 to 100 of mono signed 16-bit little-endian PCM: the mean absolute amplitude
    of each equal slice, scaled so the loudest slice is 100 (silence stays 0)."""
    samples = memoryview(pcm[: len(pcm) // 2 * 2]).cast("h")
    if not samples:
        return bytes(count)
    levels = []
    for index in range(count):
        start, end = index * len(samples) // count, (index + 1) * len(samples) // count
        chunk = samples[start:max(end, start + 1)] if start < len(samples) else samples[-1:]
        levels.append(sum(abs(value) for value in chunk) / len(chunk))
    loudest = max(levels)
    if loudest == 0:
        return bytes(count)
    return bytes(round(level / loudest * 100) for level in levels)


def _codec(path: Path) -> str:
    """The codec of the file's first audio stream ("" when ffprobe finds none)."""
    try:
        result = subprocess.run(
            [_tool("ffprobe"), "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=codec_name",
             "-of", "default=noprint_wrappers=1:nokey=1", str(path)],
            capture_output=True, timeout=_FFMPEG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return ""
    return result.stdout.decode(errors="replace").strip()


def _ffmpeg(arguments: list[str], field: str) -> bytes:
    try:
        result = subprocess.run([_tool("ffmpeg"), "-nostdin", "-v", "error", "-y", *arguments],
                                capture_output=True, timeout=_FFMPEG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise invalid(field, f"converting the audio took longer than {_FFMPEG_TIMEOUT_S:g} s") from None
    if result.returncode != 0 or (arguments[-1] == "-" and not result.stdout):
        reason = result.stderr.decode(errors="replace").strip().splitlines()
        raise invalid(field, "is not audio ffmpeg can read" + (f" ({reason[-1][:200]})" if reason else ""))
    return result.stdout


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ApiError("UNAVAILABLE", f"{name} is not installed on this host: voice notes need it (make setup "
                                      "installs Debian's ffmpeg)")
    return path
