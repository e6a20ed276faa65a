"""Downloading a received WhatsApp media file and decrypting it, as whatsmeow does (its download.go and
mediaconn.go), for the `whatsmeow` engine.

WhatsApp encrypts each file with its own 32-byte media key, sent inside the end-to-end encrypted message: HKDF-SHA256
(no salt) expands it, with an info string per kind of media ("WhatsApp Image Keys", …), into 112 bytes: the AES-CBC
IV (16), the AES-256 key (32) and the HMAC-SHA256 key (32). The file on WhatsApp's CDN is the ciphertext followed by
the first 10 bytes of HMAC(IV + ciphertext). The message also carries the SHA-256 of that encrypted file and of the
plain file, each checked here.

Done in Python rather than through neonize's Go download: the request goes through the same httpx client path as
everything else the engine host fetches, only to WhatsApp's media host (the message's URL is the sender's to write,
so only its direct path is used), and the whole path runs offline in tests against a recorded encrypted file.
A 404 or 410 from the CDN means WhatsApp no longer has the file (it keeps media about 30 days).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from server.core.errors import ApiError
from server.engine_host.engines.base import EngineError

MEDIA_HOST = "https://mmg.whatsapp.net"
# whatsmeow's MediaType app info strings; stickers are images.
APP_INFO = {"image": b"WhatsApp Image Keys", "sticker": b"WhatsApp Image Keys", "video": b"WhatsApp Video Keys",
            "audio": b"WhatsApp Audio Keys", "document": b"WhatsApp Document Keys"}
MAC_LENGTH = 10
MAX_BYTES = 101 * 1024 * 1024
TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def media_keys(media_key: bytes, kind: str) -> tuple[bytes, bytes, bytes]:
    """(IV, cipher key, MAC key) of a media key for a kind of media."""
    expanded = HKDF(algorithm=hashes.SHA256(), length=112, salt=None, info=APP_INFO[kind]).derive(media_key)
    return expanded[:16], expanded[16:48], expanded[48:80]


def decrypt(blob: bytes, media_key: bytes, kind: str, file_enc_sha256: bytes = b"", file_sha256: bytes = b""
            ) -> bytes:
    """The plain file of an encrypted WhatsApp media blob; EngineError when a hash or the MAC does not match."""
    if file_enc_sha256 and hashlib.sha256(blob).digest() != file_enc_sha256:
        raise EngineError("whatsmeow", "the downloaded media does not match its encrypted hash")
    ciphertext, mac = blob[:-MAC_LENGTH], blob[-MAC_LENGTH:]
    iv, cipher_key, mac_key = media_keys(media_key, kind)
    if not hmac.compare_digest(hmac.new(mac_key, iv + ciphertext, hashlib.sha256).digest()[:MAC_LENGTH], mac):
        raise EngineError("whatsmeow", "the downloaded media failed its MAC check")
    decryptor = Cipher(algorithms.AES(cipher_key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        data = unpadder.update(decryptor.update(ciphertext) + decryptor.finalize()) + unpadder.finalize()
    except ValueError as error:
        raise EngineError("whatsmeow", f"the downloaded media does not decrypt: {error}") from error
    if file_sha256 and hashlib.sha256(data).digest() != file_sha256:
        raise EngineError("whatsmeow", "the decrypted media does not match its hash")
    return data


def media_ref(kind: str, message: Any) -> dict[str, Any]:
    """What a received media message (ImageMessage, AudioMessage, …) says about downloading it, kept with the stored
    message (base64 for the bytes)."""
    return {"kind": kind, "direct_path": message.directPath,
            "media_key": base64.b64encode(message.mediaKey).decode(),
            "file_enc_sha256": base64.b64encode(message.fileEncSHA256).decode(),
            "file_sha256": base64.b64encode(message.fileSHA256).decode(), "file_length": message.fileLength}


def download(ref: dict[str, Any], client: httpx.Client) -> bytes:
    """The plain file a media_ref describes, fetched from WhatsApp's media host. NOT_FOUND when WhatsApp no longer
    has it."""
    direct_path = str(ref.get("direct_path", ""))
    if not direct_path.startswith("/"):
        raise ApiError("NOT_FOUND", "WhatsApp gave no download path for this media")
    try:
        with client.stream("GET", MEDIA_HOST + direct_path) as response:
            if response.status_code in (404, 410):
                raise ApiError("NOT_FOUND", "WhatsApp no longer has this media (it keeps files about 30 days)")
            if response.status_code != 200:
                raise EngineError("whatsmeow", f"downloading media answered HTTP {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BYTES:
                    raise EngineError("whatsmeow", "the media is larger than WhatsApp allows")
                chunks.append(chunk)
    except httpx.HTTPError as error:
        raise EngineError("whatsmeow", f"cannot download media: {error}") from error
    return decrypt(b"".join(chunks), base64.b64decode(ref["media_key"]), ref["kind"],
                   base64.b64decode(ref.get("file_enc_sha256", "")), base64.b64decode(ref.get("file_sha256", "")))
