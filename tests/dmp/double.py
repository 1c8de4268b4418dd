"""A DMP test double: loopback HTTPS with mTLS that checks what the real DMP checks (see tests/dmp/README.md).

No public XDS simulator runs offline here, so this one is ours. Every request goes through
:mod:`tests.dmp.checks` (MIME/XOP, SOAP 1.2 + WS-Addressing, the VIHF's signature and
attributes, the official XSDs with XOP resolved, the DMP's metadata rules, the XAdES); the
registry keeps entries with their states (Approved → Deprecated by RPLC, → Deleted by
TD3.3c); answers are the official example responses, read in place, with RelatesTo set to
the request's MessageID; each error of dmp.md §6 can be injected.
"""

from __future__ import annotations

import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from connector.dmp.settings import DMP_CIPHERS
from tests.dmp import checks
from tests.dmp.checks import NS, Refusal

REPOSITORY_PATH = "/si-dmp-server/v2/services/DocumentRepository_Service"
REGISTRY_PATH = "/si-dmp-server/v2/services/DocumentRegistry_Service"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"


class Fault(Enum):
    """Injectable failures (dmp.md §6). Each applies to the next matching request(s)."""

    DMP_CLOSED = "DMPClosed"  # RegistryError: the patient's DMP is closed
    UNKNOWN_PATIENT = "XDSUnknownPatientId"
    DUPLICATE = "XDSDuplicateUniqueIdInRegistry"  # answered even though the entry is new (and not stored)
    BUSY = "XDSRegistryBusy"  # RegistryError, transient
    HTTP_503 = "503"  # a proxy's non-SOAP 503
    INVALID_CERTIFICATE = "DMPInvalidCertificate"  # SOAP Fault
    TIMEOUT_AFTER_BODY = "timeout-after-body"  # stored, then no answer before the client's read timeout
    LOST_AFTER_BODY = "lost-after-body"  # body read, NOT stored, no answer
    TLS_REFUSAL = "tls-refusal"  # the next handshakes present a server certificate the client cannot trust


@dataclass
class Entry:
    entry_uuid: str
    unique_id: str
    patient: str
    status: str
    structure_id: str
    cda: bytes = field(repr=False)
    confidentiality: tuple[str, ...] = ()


@dataclass
class Received:
    """One request as the double saw it (for assertions): its action, and the refusal code if refused."""

    action: str
    refused: str = ""
    reason: str = ""


class DmpDouble:
    """``with DmpDouble(pki=…, ref=…) as dmp:`` → ``dmp.base_url``; ``dmp.inject(Fault.X)``; ``dmp.entries``."""

    def __init__(self, *, ca: x509.Certificate, server_cert_pem: bytes, server_key_pem: bytes, scratch: Path,
                 ref: Path, untrusted_cert_pem: bytes = b"", untrusted_key_pem: bytes = b"",
                 answer_delay: float = 3.0) -> None:
        self.ca = ca
        self.ref = ref
        self.schemas = checks.Schemas(ref / "wsdl-schema")
        self.entries: dict[str, Entry] = {}  # entryUUID → Entry
        self.received: list[Received] = []
        self.closed_patients: set[str] = set()
        self.unknown_patients: set[str] = set()
        self.answer_delay = answer_delay
        self._faults: list[tuple[Fault, str]] = []  # (fault, action or "")
        self._lock = threading.RLock()
        scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
        (scratch / "server.pem").write_bytes(server_cert_pem + server_key_pem)
        (scratch / "ca.pem").write_bytes(ca.public_bytes(Encoding.PEM))
        self.context = self._context(scratch / "server.pem", scratch / "ca.pem")
        self.untrusted_context: ssl.SSLContext | None = None
        if untrusted_cert_pem:
            (scratch / "untrusted.pem").write_bytes(untrusted_cert_pem + untrusted_key_pem)
            self.untrusted_context = self._context(scratch / "untrusted.pem", scratch / "ca.pem")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="dmp-double", daemon=True)

    @staticmethod
    def _context(cert_and_key: Path, ca: Path) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(":".join(DMP_CIPHERS))
        context.load_cert_chain(str(cert_and_key))
        context.load_verify_locations(cafile=str(ca))
        context.verify_mode = ssl.CERT_REQUIRED  # mTLS: the organisation's AUTH_CLI certificate
        return context

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> DmpDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/si-dmp-server/v2/services"

    # ------------------------------------------------------------------ test API

    def inject(self, fault: Fault, *, times: int = 1, action: str = "") -> None:
        """Make the next ``times`` requests (of ``action`` when given, e.g. a WS-Addressing action) fail so."""
        with self._lock:
            self._faults.extend([(fault, action)] * times)

    def _take_fault(self, action: str) -> Fault | None:
        with self._lock:
            for i, (fault, only) in enumerate(self._faults):
                if fault is not Fault.TLS_REFUSAL and (not only or only == action):
                    del self._faults[i]
                    return fault
        return None

    def take_tls_fault(self) -> bool:
        with self._lock:
            for i, (fault, _) in enumerate(self._faults):
                if fault is Fault.TLS_REFUSAL:
                    del self._faults[i]
                    return True
        return False

    def by_unique_id(self, unique_id: str) -> list[Entry]:
        with self._lock:
            return [e for e in self.entries.values() if e.unique_id == unique_id]

    def current(self) -> Iterator[Entry]:
        with self._lock:
            yield from [e for e in self.entries.values() if e.status == APPROVED]

    # ------------------------------------------------------------------ handling

    def handle(self, path: str, content_type: str, body: bytes) -> tuple[int, bytes, float]:
        """(HTTP status, response body, seconds to wait before answering; < 0: never answer)."""
        received = Received(action="?")
        with self._lock:
            self.received.append(received)
        try:
            root, parts, action = checks.read_http(content_type, body)
            received.action = action
            env = checks.read_envelope(root, parts, action, self.ca)
            expected = REPOSITORY_PATH if env.action.endswith("ProvideAndRegisterDocumentSet-b") else REGISTRY_PATH
            if path != expected:
                raise Refusal("EndpointMismatch", fault=True)
            fault = self._take_fault(env.action)
            if fault is Fault.HTTP_503:
                return 503, b"<html><body>Service Unavailable</body></html>", 0
            if fault is Fault.INVALID_CERTIFICATE:
                raise Refusal("DMPInvalidCertificate", fault=True)
            if fault in (Fault.DMP_CLOSED, Fault.UNKNOWN_PATIENT, Fault.BUSY, Fault.DUPLICATE):
                assert fault is not None
                raise Refusal(fault.value)
            if fault is Fault.LOST_AFTER_BODY:
                return 0, b"", -1
            if checks.cx_key(env.vihf.patient) in self.closed_patients:
                raise Refusal("DMPClosed")
            if checks.cx_key(env.vihf.patient) in self.unknown_patients:
                raise Refusal("XDSUnknownPatientId")
            answer = self._dispatch(env)
            delay = self.answer_delay if fault is Fault.TIMEOUT_AFTER_BODY else 0.0
            return 200, answer, delay
        except Refusal as refusal:
            received.refused, received.reason = refusal.code, refusal.reason
            if refusal.fault:
                return 500, _fault(refusal), 0
            return 200, self._registry_failure(refusal, received), 0

    def _dispatch(self, env: checks.Envelope) -> bytes:
        if env.action == "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b":
            return self._provide(env)
        if env.action == "urn:ihe:iti:2007:RegistryStoredQuery":
            return self._query(env)
        if env.action == "urn:ihe:iti:2010:UpdateDocumentSet":
            return self._update(env)
        raise Refusal("ActionNotSupported", fault=True)

    def _provide(self, env: checks.Envelope) -> bytes:
        submission = checks.check_provide_and_register(env, self.schemas, self.ca)
        with self._lock:
            if self.by_unique_id(submission.unique_id) or self.by_unique_id(submission.submission_set_uid):
                raise Refusal("XDSDuplicateUniqueIdInRegistry")
            if submission.replaces:
                target = self.entries.get(submission.replaces)
                if target is None or target.status != APPROVED:
                    raise Refusal("XDSRegistryMetadataError", reason="RPLC target is not a current entry")
                if target.structure_id != env.vihf.structure_id:
                    raise Refusal("DMPAccessDeniedByRightsService", reason="only the author structure replaces")
                target.status = DEPRECATED
            entry = Entry(entry_uuid=f"urn:uuid:{uuid.uuid4()}", unique_id=submission.unique_id,
                          patient=checks.cx_key(submission.patient), status=APPROVED,
                          structure_id=env.vihf.structure_id, cda=submission.cda,
                          confidentiality=submission.confidentiality)
            self.entries[entry.entry_uuid] = entry
        return self._example("TD2.1_alimentation_response.xml", env.message_id)

    def _query(self, env: checks.Envelope) -> bytes:
        unique_ids = checks.check_query(env, self.schemas)
        patient = checks.cx_key(env.vihf.patient)
        with self._lock:
            found = [e.entry_uuid for e in self.entries.values()
                     if e.unique_id in unique_ids and e.patient == patient and e.status != DELETED]
        return self._query_response(env.message_id, found)

    def _update(self, env: checks.Envelope) -> bytes:
        target_uuid, original, new = checks.check_update(env, self.schemas)
        with self._lock:
            target = self.entries.get(target_uuid)
            if target is None or target.patient != checks.cx_key(env.vihf.patient):
                raise Refusal("XDSUnknownDocument" if target is None else "XDSPatientIdDoesNotMatch")
            if target.structure_id != env.vihf.structure_id:
                raise Refusal("DMPAccessDeniedByRightsService", reason="only the author structure deletes")
            if original != target.status:
                raise Refusal("XDSMetadataUpdateError", reason="OriginalStatus is not the current status")
            target.status = new
        return self._example("TD3.3c_supprimer_response.xml", env.message_id)

    # ------------------------------------------------------------------ answers

    def _example(self, name: str, relates_to: str) -> bytes:
        """An official example response with our RelatesTo and a fresh MessageID."""
        root = checks.parse_xml((self.ref / "examples" / name).read_bytes(), source=name)
        header = root.find("s:Header", NS)
        assert header is not None
        for node in header:
            if etree.QName(node).localname == "RelatesTo":
                node.text = relates_to
            elif etree.QName(node).localname == "MessageID":
                node.text = f"urn:uuid:{uuid.uuid4()}"
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def _query_response(self, relates_to: str, entry_uuids: list[str]) -> bytes:
        """The TD3.1 example's envelope, its AdhocQueryResponse holding ObjectRefs (what ObjectRef asks)."""
        root = etree.fromstring(self._example("TD3.1_recherche_response.xml", relates_to))
        response = root.find("s:Body/q:AdhocQueryResponse", NS)
        assert response is not None
        for child in list(response):
            response.remove(child)
        response.set("totalResultCount", str(len(entry_uuids)))
        objects = etree.SubElement(response, f"{{{checks.RIM}}}RegistryObjectList")
        for entry_uuid in entry_uuids:
            etree.SubElement(objects, f"{{{checks.RIM}}}ObjectRef", id=entry_uuid)
        self.schemas.check(response, "double-bug")  # the double's own answers stay schema-valid
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def _registry_failure(self, refusal: Refusal, received: Received) -> bytes:
        is_query = received.action == "urn:ihe:iti:2007:RegistryStoredQuery"
        name = "TD3.1_recherche_response.xml" if is_query else "TD2.1_alimentation_response.xml"
        root = etree.fromstring(self._example(name, ""))
        body = root.find("s:Body", NS)
        assert body is not None
        answer = body[0]
        for child in list(answer):
            answer.remove(child)
        answer.set("status", FAILURE)
        errors = etree.SubElement(answer, f"{{{RS}}}RegistryErrorList")
        etree.SubElement(errors, f"{{{RS}}}RegistryError", errorCode=refusal.code,
                         codeContext=refusal.reason or refusal.code,
                         severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error", location="DMP double")
        if is_query:  # an AdhocQueryResponse always has its (here empty) object list
            etree.SubElement(answer, f"{{{checks.RIM}}}RegistryObjectList")
            answer.set("totalResultCount", "0")
        self.schemas.check(answer, "double-bug")
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _fault(refusal: Refusal) -> bytes:
    subcode = f"<soap:Subcode><soap:Value>{refusal.code}</soap:Value></soap:Subcode>"
    return (f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">'
            f"<soap:Body><soap:Fault><soap:Code><soap:Value>soap:Sender</soap:Value>{subcode}</soap:Code>"
            f'<soap:Reason><soap:Text xml:lang="fr">{refusal.reason or refusal.code}</soap:Text></soap:Reason>'
            f"</soap:Fault></soap:Body></soap:Envelope>").encode()


def _handler(double: DmpDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

        def setup(self) -> None:
            context = double.context
            if double.take_tls_fault() and double.untrusted_context is not None:
                context = double.untrusted_context
            try:
                self.request = context.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError):
                self.request.close()
                raise
            super().setup()

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: the tests assert on double.received

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status, answer, delay = double.handle(self.path, self.headers.get("Content-Type", ""), body)
            if delay != 0:  # past the client's read timeout: it has given up by then
                time.sleep(double.answer_delay)
                self.close_connection = True
                if delay < 0:
                    return  # never answered
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/soap+xml; charset=UTF-8")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                self.close_connection = True  # the client went away (a late answer)

    return Handler
