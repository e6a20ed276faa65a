"""The outbound URL guard (server/core/urls.py): addresses in every notation, what is refused, names resolved by an
injected resolver, the connection pinned to the checked address with the URL's Host and TLS name, and the two
callers' rules (webhooks follow no redirect, the API refuses at once what it can tell without resolving)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server.core import urls, webhook_attempts
from server.core.config import Settings
from server.core.errors import ApiError
from tests.support.web import Web

LOOPBACK_FORMS = ["127.0.0.1", "2130706433", "0x7f000001", "0X7F000001", "127.1", "127.0.1", "0177.0.0.1",
                  "0177.1", "0x7f.1", "0x7f.0.0.0x1", "127.000.000.001", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
                  "[::1]", "[0:0:0:0:0:0:0:1]", "[::127.0.0.1]", "[64:ff9b::127.0.0.1]", "[2002:7f00:1::]"]


def test_every_ipv4_notation_reads_as_the_c_library_reads_it():
    forms = [*LOOPBACK_FORMS[:11], "0", "4294967295", "4294967296", "1.256", "1.2.65535", "1.2.65536", "256.1",
             "0x100.1", "08", "0x", "1.2.3.4.5", "1..2", "1.2.3.", "+1", "-1", "0xg", "example.com", "1e3"]
    for form in forms:
        try:
            expected = socket.inet_ntoa(socket.inet_aton(form))
        except OSError:
            expected = None
        parsed = urls.parse_address(form)
        assert (str(parsed) if parsed is not None else None) == expected, form


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_loopback_in_every_notation_is_refused(host):
    address = urls.parse_address(host)
    assert address is not None
    assert "loopback" in urls.refusal(address)


@pytest.mark.parametrize(("address", "reason"), [
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"), ("100.64.0.1", "carrier-grade NAT"), ("100.127.255.254", "carrier-grade NAT"),
    ("224.0.0.251", "multicast"), ("239.255.255.250", "multicast"), ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"), ("0.0.0.0", "unspecified"), ("0.1.2.3", "private"), ("192.0.2.10", "private"),
    ("198.18.0.1", "private"), ("::", "unspecified"), ("fe80::1", "link-local"), ("fc00::1", "private"),
    ("fd12:3456::1", "private"), ("ff02::1", "multicast"), ("::ffff:10.0.0.1", "private address inside IPv6"),
    ("::ffff:169.254.169.254", "link-local address inside IPv6"), ("64:ff9b::a00:1", "private address inside IPv6"),
    ("64:ff9b:1::808:808", "local-use NAT64"), ("2002:c0a8:101::", "private address inside IPv6"),
    ("2001:db8::1", "private"), ("2001::1", "private"),
])
def test_addresses_that_are_not_public_unicast_are_refused(address, reason):
    assert reason in urls.refusal(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "100.128.0.1", "100.63.255.255", "2606:4700::1111",
                                     "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::"])
def test_public_unicast_addresses_pass(address):
    assert urls.refusal(ipaddress.ip_address(address)) is None


def resolver(table: dict[str, list[str]]) -> urls.Resolver:
    """A resolver answering from `table`, and failing the test for any other name (numeric hosts must never be
    resolved: they are read as the addresses they are)."""
    def resolve(host: str, port: int) -> list[str]:
        assert host in table, f"{host} should not have been resolved"
        return table[host]
    return resolve


def test_a_name_is_refused_when_any_of_its_addresses_is_not_public():
    guard = urls.Guard(resolver=resolver({"public.example": ["93.184.215.14", "2606:2800:21f:cb07::1"],
                                          "rebind.example": ["93.184.215.14", "127.0.0.1"],
                                          "metadata.example": ["169.254.169.254"]}))
    assert guard.addresses("public.example", 443) == ["93.184.215.14", "2606:2800:21f:cb07::1"]
    with pytest.raises(urls.Refused, match=r"'rebind.example' resolves to 127.0.0.1, a loopback address"):
        guard.addresses("rebind.example", 443)
    with pytest.raises(urls.Refused, match="link-local"):
        guard.addresses("metadata.example", 80)
    for host in ("2130706433", "0x7f000001", "127.1", "::ffff:127.0.0.1"):
        with pytest.raises(urls.Refused, match=r"\(127.0.0.1\) is a loopback|inside IPv6"):
            guard.addresses(host, 80)
    assert guard.addresses("8.8.8.8", 80) == ["8.8.8.8"]


def test_allow_private_and_trusted_hosts_open_the_guard_as_configured():
    table = resolver({"media.internal": ["10.0.0.5"], "other.internal": ["10.0.0.6"]})
    open_guard = urls.Guard(allow_private=True, resolver=table)
    assert open_guard.addresses("2130706433", 80) == ["127.0.0.1"]
    assert open_guard.addresses("other.internal", 80) == ["10.0.0.6"]
    settings = Settings(trusted_url_hosts="media.internal:8080, [::1], 10.0.0.7")
    trusting = urls.Guard(trusted=urls.Guard.from_settings(settings).trusted, resolver=table)
    assert trusting.is_trusted("MEDIA.internal.", 8080)
    assert trusting.addresses("media.internal", 8080) == ["10.0.0.5"]
    with pytest.raises(urls.Refused):
        trusting.addresses("media.internal", 8081)  # trusted on its port only
    with pytest.raises(urls.Refused):
        trusting.addresses("other.internal", 8080)
    assert trusting.addresses("::1", 9) == ["::1"]
    assert trusting.addresses("167772167", 80) == ["10.0.0.7"]  # the trusted address in another notation
    assert not Settings().allow_private_urls and urls.Guard.from_settings(Settings()) == urls.Guard()


@pytest.fixture
def web() -> Iterator[Web]:
    server = Web()
    yield server
    server.close()


def test_the_connection_goes_to_the_checked_address_with_the_urls_host(web, monkeypatch):
    """The guard resolves once, inside the connect, and the socket goes to an address it checked: a second lookup
    (which DNS rebinding would answer with a private address) never happens."""
    answers = {"media.test": ["127.0.0.1"]}
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return answers[host]

    system = socket.getaddrinfo

    def no_second_lookup(host: str, *args: Any, **kwargs: Any) -> Any:
        assert urls.parse_address(host) is not None, f"the system resolver was asked for {host}"
        return system(host, *args, **kwargs)  # an address, as the socket's connect reads it

    monkeypatch.setattr(socket, "getaddrinfo", no_second_lookup)
    web.serve("/pixel", b"pixel")
    guard = urls.Guard(trusted=frozenset({("media.test", web.port)}), resolver=resolve)
    with guard.client(timeout=5) as client:
        assert client.get(f"http://media.test:{web.port}/pixel").content == b"pixel"
    assert lookups == ["media.test"]
    [hit] = web.hits("/pixel")
    assert hit.host == f"media.test:{web.port}"


def test_a_public_answer_is_connected_to_as_checked(monkeypatch):
    connected: list[tuple[str, int]] = []

    def connect(self: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        connected.append((host, port))
        raise httpcore.ConnectError("no Internet in tests")

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect)
    guard = urls.Guard(resolver=resolver({"public.example": ["93.184.215.14", "2606:2800:21f:cb07::1"]}))
    with guard.client(timeout=5) as client, pytest.raises(httpx.ConnectError):
        client.get("https://public.example/a.png")
    assert connected == [("93.184.215.14", 443), ("2606:2800:21f:cb07::1", 443)]  # each checked address in turn


def _certificate(name: str, directory: Any) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.mark.parametrize(("served_name", "verified"), [("media.test", True), ("other.test", False)])
def test_tls_keeps_the_urls_name_for_sni_and_the_certificate(tmp_path, monkeypatch, served_name, verified):
    cert, key = _certificate(served_name, tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_context.sni_callback = lambda sock, name, context: names.append(name)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = self.headers["Host"].encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    port = server.server_address[1]
    client_context = ssl.create_default_context(cafile=cert)
    monkeypatch.setattr(httpx, "create_ssl_context", lambda **kwargs: client_context)
    guard = urls.Guard(trusted=frozenset({("media.test", port)}), resolver=resolver({"media.test": ["127.0.0.1"]}))
    try:
        with guard.client(timeout=5) as client:
            if verified:
                assert client.get(f"https://media.test:{port}/").text == f"media.test:{port}"
            else:
                with pytest.raises(httpx.ConnectError, match="certificate"):
                    client.get(f"https://media.test:{port}/")
    finally:
        server.shutdown()
        server.server_close()
    assert names and set(names) == {"media.test"}


def test_webhooks_follow_no_redirect_and_a_refused_target_is_final(web):
    web.redirect("/hook", web.url("/inside", host="127.0.0.1"))
    guard = urls.Guard(trusted=frozenset({("localhost", web.port)}))
    redirected = webhook_attempts.post(web.url("/hook"), b"{}", {}, guard)
    assert (redirected.status, redirected.final) == (302, False)
    refused = webhook_attempts.post(web.url("/inside", host="2130706433"), b"{}", {}, guard)
    assert refused.status == 0 and refused.final
    assert refused.excerpt.startswith("refused: '2130706433' (127.0.0.1) is a loopback address")
    by_name = webhook_attempts.post(web.url("/inside", host="localhost").replace(str(web.port), "1"), b"{}", {},
                                    guard)
    assert by_name.final and "'localhost' resolves to 127.0.0.1, a loopback address" in by_name.excerpt
    assert [hit.path for hit in web.hits()] == ["/hook"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://2130706433/hook", "http://0x7f000001:8080/hook", "http://127.1/hook",
    "http://[::1]:80/hook", "http://[::ffff:127.0.0.1]/hook", "http://localhost/hook", "http://a.localhost/hook",
    "http://169.254.169.254/latest/meta-data", "http://100.64.0.1/", "http://224.0.0.1/", "http://0.0.0.0/",
    "http://10.0.0.1/", "http://0177.0.0.1/", "ftp://example.com/hook", "http:///hook",
    "https://example.com/" + "x" * 2000, "",
])
def test_the_api_refuses_at_once_what_it_can_tell_without_resolving(url):
    with pytest.raises(ApiError) as refused:
        urls.check_public_url(url, "url", urls.Guard())
    assert refused.value.code == "VALIDATION_ERROR"
    assert refused.value.metadata["field"] == "url"


def test_the_api_accepts_public_names_and_what_configuration_allows():
    guard = urls.Guard()
    assert urls.check_public_url(" https://example.com/hook ", "url", guard) == "https://example.com/hook"
    assert urls.check_public_url("http://8.8.8.8/hook", "url", guard) == "http://8.8.8.8/hook"
    assert urls.check_public_url("http://10.0.0.1/hook", "url", urls.Guard(allow_private=True))
    trusted = urls.Guard(trusted=frozenset({("localhost", 8080)}))
    assert urls.check_public_url("http://localhost:8080/hook", "url", trusted)
    with pytest.raises(ApiError):
        urls.check_public_url("http://localhost:8081/hook", "url", trusted)
