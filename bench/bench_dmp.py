"""DMP feed: building a TD2.1, and the HTTPS client choice (stdlib http.client vs httpx), each beside a baseline.

1. Build: ``build_td21`` (XDS metadata + XAdES + signed VIHF + MTOM) for the 20-OBX demo CR-BIO, beside the
   baseline "two RSA-2048 signatures alone" (the cryptographic floor of any TD2.1) measured in the same run.
2. Transport: the same 60-70 KB TD2.1 POSTed N times to a minimal loopback HTTPS server with mTLS, TLS 1.2 and
   the DMP suites, answering the official-looking success response at once (so the client's cost shows, not
   the server's): http.client with one persistent connection (the connector's choice), http.client with a
   new connection per request, and httpx.Client (when installed) with its connection pool.

The DMP allows 5 transactions/s per structure: any of these is far above that; the choice rests on what the
feed needs (telling "not sent" from "sent, no answer"; no extra dependency). Usage: python bench/bench_dmp.py [N]
"""

from __future__ import annotations

import http.client
import ssl
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from connector.dmp import RateLimiter, build_td21, make_demo_pki
from connector.dmp.settings import DMP_CIPHERS
from connector.dmp.transport import Transport, client_context
from tests.dmp.support import credentials_of, document, lab, settings_for, write_pki

ANSWER = (b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
          b'<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" '
          b'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/></soap:Body></soap:Envelope>')


def _timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _row(name: str, samples: list[float]) -> str:
    med = statistics.median(samples)
    return f"| {name} | {med * 1000:.2f} ms | {1 / med:,.0f}/s |"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/soap+xml; charset=UTF-8")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    identity = lab()
    pki = make_demo_pki(structure_id="1" + identity.finess, structure_name=identity.name)
    tmp = Path(tempfile.mkdtemp(prefix="bench-dmp-"))
    files = write_pki(pki, tmp / "pki")
    doc, credentials = document(), credentials_of(pki)
    now = datetime.now(UTC)

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.minimum_version = server_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    server_ctx.set_ciphers(":".join(DMP_CIPHERS))
    (tmp / "server.pem").write_bytes(pki.server.cert_pem + pki.server.key_pem)
    server_ctx.load_cert_chain(str(tmp / "server.pem"))
    server_ctx.load_verify_locations(cafile=files["ca_file"])
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = server_ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"https://127.0.0.1:{server.server_address[1]}/si-dmp-server/v2/services"
    settings = settings_for(base, files)

    request = build_td21(doc, settings=settings, credentials=credentials, now=now, message_id="urn:uuid:x")
    print(f"TD2.1 for a 20-OBX CR-BIO: {len(request.body):,} bytes (CDA {len(doc.cda):,} bytes)\n")
    print("| what | median | rate |\n|---|---|---|")
    build = _timed(lambda: build_td21(doc, settings=settings, credentials=credentials, now=now,
                                      message_id="urn:uuid:x"), max(20, n // 4))
    sign = _timed(lambda: [credentials.sign_key.sign(b"x" * 200, padding.PKCS1v15(), hashes.SHA256())
                           for _ in range(2)], max(20, n // 4))
    print(_row("build_td21 (metadata + XAdES + VIHF + MTOM)", build))
    print(_row("baseline: two RSA-2048 signatures alone", sign))

    url = settings.repository_url
    transport = Transport(settings)
    persistent = _timed(lambda: transport.post(url, request.content_type, request.body), n)
    transport.close()
    context = client_context(settings)

    def fresh() -> None:
        conn = http.client.HTTPSConnection("127.0.0.1", server.server_address[1], context=context, timeout=10)
        conn.request("POST", "/si-dmp-server/v2/services/DocumentRepository_Service", body=request.body,
                     headers={"Content-Type": request.content_type})
        conn.getresponse().read()
        conn.close()

    new_each = _timed(fresh, max(20, n // 4))
    print(_row("http.client, one persistent connection (the connector)", persistent))
    print(_row("baseline: http.client, new TLS connection per request", new_each))
    try:
        import httpx
    except ImportError:
        print("| httpx.Client | not installed | |")
    else:
        with httpx.Client(verify=context, cert=(files["auth_cert_file"], files["auth_key_file"])) as client:
            pooled = _timed(lambda: client.post(url, content=request.body,
                                                headers={"Content-Type": request.content_type}), n)
        print(_row(f"httpx {httpx.__version__} Client, pooled connection", pooled))
    limiter = RateLimiter(5)
    limited = _timed(lambda: (limiter.acquire(), transport.post(url, request.content_type, request.body)), 11)
    transport.close()
    print(_row("http.client behind the DMP rate limiter (5/s)", limited[1:]))
    server.shutdown()


if __name__ == "__main__":
    main()
