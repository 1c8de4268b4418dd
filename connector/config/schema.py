"""The configuration's shape: every key, its type and its default, written once, here.

``config/connector.example.yaml`` documents each key for the lab; :mod:`connector.config.load`
reads a file into these values; :mod:`connector.config.settings` turns them into what each
stage takes. Relative paths are relative to the configuration file (``base_dir``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from connector.errors import ConfigError
from connector.limits import MAX_MESSAGE_BYTES
from connector.mapping import default_mappings_dir
from connector.model.labtime import DEFAULT_ZONE
from connector.validation.install import INSTALL_DIR

__all__ = [
    "VALIDATION_MODES",
    "BuildConfig",
    "Config",
    "DmpConfig",
    "FolderConfig",
    "IdentityConfig",
    "ImapConfig",
    "InstanceConfig",
    "IntakeConfig",
    "LabConfig",
    "MappingsConfig",
    "MessageConfig",
    "MetricsConfig",
    "MllpConfig",
    "MllpTlsConfig",
    "RetentionConfig",
    "RetryConfig",
    "RoutingConfig",
    "SilConfig",
    "SmtpConfig",
    "StoreConfig",
    "TlsFiles",
    "ValidationConfig",
]


@dataclass(frozen=True)
class TlsFiles:
    cafile: str = ""  # CA bundle the server must chain to (IGC-Santé in production)
    certfile: str = ""  # our client certificate (ORG_AUTH_CLI)
    keyfile: str = ""
    verify: bool = True  # false is refused in production


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "127.0.0.1"
    port: int = 587
    starttls: bool = True
    tls: TlsFiles = TlsFiles()
    timeout: float = 30.0
    username: str = ""
    password_file: str = ""
    dsn: bool = True  # request DSNs (NOTIFY, ENVID, RET=HDRS)


@dataclass(frozen=True)
class ImapConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 143
    starttls: bool = True  # false: implicit TLS (IMAPS, usually port 993)
    timeout: float = 30.0
    tls: TlsFiles = TlsFiles()
    username: str = ""
    password_file: str = ""
    sasl_external: bool = False
    mailbox: str = "INBOX"
    done_folder: str = "Traites"
    unknown_folder: str = "Inconnus"
    poll_seconds: float = 30.0


@dataclass(frozen=True)
class FolderConfig:
    enabled: bool = True
    drop: str = "drop"
    archive: str = "archive"
    quarantine: str = "quarantine"
    stable_seconds: float = 2.0
    log_names: bool = True  # false: logs and the store name files by a digest (names holding patient data)


@dataclass(frozen=True)
class MllpTlsConfig:
    """TLS for SILs on other hosts: empty ``certfile`` means plain TCP (a SIL on the same host)."""

    certfile: str = ""  # the connector's server certificate (PEM)
    keyfile: str = ""  # its key (may be inside certfile); 0600
    client_cafile: str = ""  # set: a client certificate from this CA is required (CERT_REQUIRED)
    allowed_subjects: tuple[str, ...] = ()  # certificate CN or DNS names allowed; empty: any the CA signed


@dataclass(frozen=True)
class MllpConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2575
    max_connections: int = 32  # SIL connections are few; bounds threads and memory
    max_connections_per_peer: int = 8  # one address takes a quarter of the slots at most (idle, slowloris)
    idle_timeout: float = 300.0  # seconds without a frame before an idle connection is closed
    read_timeout: float = 60.0  # seconds to receive one whole frame once it started (and a TLS handshake)
    allowed_peers: tuple[str, ...] = ()  # IP networks allowed to connect (e.g. 10.1.2.0/24); empty: any
    tls: MllpTlsConfig = MllpTlsConfig()


@dataclass(frozen=True)
class IntakeConfig:
    # One size limit for a drop-folder file, an MLLP frame and a message: at most limits.MAX_MESSAGE_BYTES.
    max_message_bytes: int = MAX_MESSAGE_BYTES
    folder: FolderConfig = FolderConfig()
    mllp: MllpConfig = MllpConfig()


@dataclass(frozen=True)
class LabConfig:
    name: str = "Laboratoire de démonstration"
    finess: str = "000000000"
    oid_root: str = "1.2.250.1.999.1"
    ipp_oid: str = "1.2.250.1.999.1.4"
    street: str = ""
    postal_code: str = ""
    city: str = ""
    telecom: str = ""
    mailbox: str = "labo@labo.test"
    biologist_rpps: str = ""
    biologist_family: str = ""
    biologist_given: str = ""
    # true: biologist_rpps signs reports whose validating biologist the SIL does not identify (recorded,
    # logged); false: such a report is held (issue 12, class 7: never a silent substitution)
    biologist_standin: bool = False
    # an IANA name: HL7 times without a zone are local time there, summer time included; a fixed
    # offset such as "+0100" still loads but is deprecated (an hour off half the year)
    timezone: str = DEFAULT_ZONE


@dataclass(frozen=True)
class MappingsConfig:
    dir: str = ""  # the lab's mapping files; "": the default ones the package carries (a demo, not a lab's)
    loinc_dir: str = ""  # where `connector loinc import` puts the full table; "": <data_dir>/loinc
    hold_unmapped: bool = False  # true: a report with an unmapped local code waits for a mapping


@dataclass(frozen=True)
class IdentityConfig:
    # PID-32 codes sent by this site's SIL → RNIV status; anything else is "not qualified".
    status_map: dict[str, str] = field(
        default_factory=lambda: {"QUAL": "QUAL", "VALI": "VALI", "RECUP": "RECUP", "PROV": "PROV"}
    )
    allow_test_ins: bool = False  # test/demo INS OIDs (…4.10, …4.11): refused in production
    # "MSH-3^MSH-4" (or "MSH-3") of a SIL known to send another charset than its MSH-18 → that codec.
    # Empty: bytes that do not decode in the declared charset are refused naming MSH-18 (never guessed).
    charset_fallback: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RoutingConfig:
    patient_mailbox: bool = False  # send to <INS>@patient.mssante.fr (qualified INS only)
    copy_to: bool = True  # OBR-28 copy-to doctors
    mailbox_choice: str = "all"  # a person with several mailboxes: all | first


@dataclass(frozen=True)
class MessageConfig:
    nil: str = ""  # X-MSS-NIL product-declaration reference
    request_mdn: bool = True


@dataclass(frozen=True)
class SilConfig:
    ack_application: str = "CONNECTOR"  # MSH-3 of the ACKs and ZAMs we send
    ack_facility: str = "LABO"
    zam_folder: str = ""  # write ZAMs here…
    # …readable by the SIL's account through the folder's group (octal; never readable by others)
    zam_file_mode: str = "0640"
    zam_host: str = ""  # …or send them over MLLP
    zam_port: int = 0


VALIDATION_MODES = ("full", "xsd", "off")  # connector.validation.ValidationMode's values


@dataclass(frozen=True)
class ValidationConfig:
    """The gate every document passes before it is sent (issue 12): the ANS kit's XSD and six schematrons."""

    # full: XSD + the six CR-BIO schematrons; xsd: the XSD only; off: nothing (logged at every start).
    # Production refuses to start without a usable kit unless this says off.
    mode: str = "full"
    ans_kit: str = ""  # the kit's folder; "": <data_dir>/ans-kit, where `connector kit install` puts it
    workers: int = 0  # worker processes for the builds and the schematrons; 0: one per core


@dataclass(frozen=True)
class BuildConfig:
    # A report whose build takes longer is quarantined with that reason and the pipeline goes on (issue 13).
    # The size limits per value keep the slowest build within a few seconds; this is the backstop.
    budget_seconds: float = 30.0


@dataclass(frozen=True)
class RetryConfig:
    first_seconds: float = 60.0
    max_seconds: float = 3600.0
    give_up_hours: float = 120.0  # then the report is quarantined with the last reason (Postfix: 5 days)


@dataclass(frozen=True)
class DmpConfig:
    """The DMP feed (docs/dmp.md): endpoint, the lab's structure, the software's homologation, certificates.

    An empty structure, name, responsible, software or source OID is taken from the ``lab:`` section
    (``connector.config.dmp``). Production refuses test certificates and demo values, naming the key.
    """

    enabled: bool = False  # false: reports addressed to the DMP are queued and wait (`connector status`)
    discrete_feed: bool = False  # also feed the CR-BIO of discrete results (shape A) when the INS is qualified
    base_url: str = ""  # e.g. https://lps2.dmp.gouv.fr/si-dmp-server/v2/services (to confirm with the CNDA)
    repository_suffix: str = "/DocumentRepository_Service"  # ITI-41 (CNAM sample; other clients use /repository)
    registry_suffix: str = "/DocumentRegistry_Service"  # ITI-18, ITI-57
    structure_id: str = ""  # Struct_IdNat: the VIHF structure = the CDA author's institution; "": 1 + lab.finess
    structure_name: str = ""  # "": lab.name
    sector: str = "SA25"  # Secteur_Activite (JDV_J61): laboratoire de biologie médicale
    responsible_id: str = ""  # VIHF NameID, the person responsible for the feed; "": 8 + lab.biologist_rpps
    software_name: str = ""  # LPS_Nom; "": the connector's name
    software_version: str = ""  # LPS_Version; "": the connector's version
    homologation_number: str = ""  # LPS_ID_HOMOLOGATION_DMP, given by the CNDA
    lps_id: str = ""  # LPS_ID (optional)
    source_oid: str = ""  # XDSSubmissionSet.sourceId; "": lab.oid_root
    auth_cert_file: str = ""  # IGC-Santé ORG AUTH_CLI certificate (PEM): mTLS
    auth_key_file: str = ""
    sign_cert_file: str = ""  # IGC-Santé ORG SIGN certificate (+ chain): VIHF and XAdES signatures
    sign_key_file: str = ""
    ca_file: str = ""  # the IGC-Santé CAs the DMP's server must chain to (nothing else is trusted)
    vihf_version: str = "3.0"  # every example says 3.0; the IG table says 4.0 (docs/dmp.md, still unknown)
    digest: str = "sha256"  # sha256 | sha1 (test platform only)
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # past it after the request was sent, TD3.1b checks whether it landed
    transactions_per_second: float = 5.0  # at most 5: the DMP's ceiling per structure and software


MIN_ARCHIVE_DAYS = 1  # an archived file is already in the store; one day covers a same-day investigation
MIN_QUARANTINE_DAYS = 30  # a person must have had time to read the reason and have the SIL resend
MIN_STORE_DAYS = 30  # MDNs (read receipts) can arrive weeks after delivery and need the input for the ZAM


@dataclass(frozen=True)
class RetentionConfig:
    """Ages in days after which data is removed (`connector prune`); see docs/operations.md."""

    archive_days: int = 90
    quarantine_days: int = 365
    store_days: int = 400

    def check(self) -> None:
        for key, value, floor in (("archive_days", self.archive_days, MIN_ARCHIVE_DAYS),
                                  ("quarantine_days", self.quarantine_days, MIN_QUARANTINE_DAYS),
                                  ("store_days", self.store_days, MIN_STORE_DAYS)):
            if value < floor:
                raise ConfigError(f"expected at least {floor} days, got {value}", key=f"retention.{key}")


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9464


MAX_STORE_POOL = 100  # connections per instance; PostgreSQL's default max_connections is 100 for all


@dataclass(frozen=True)
class StoreConfig:
    """The store: SQLite in ``data_dir`` (empty ``url``), or a PostgreSQL shared by several instances."""

    url: str = ""  # postgresql://connector@db.example:5432/connector?sslmode=verify-full; never a password
    password_file: str = ""  # or env CONNECTOR_STORE_PASSWORD (or libpq's ~/.pgpass)
    pool_size: int = 8  # connections this instance keeps to PostgreSQL


@dataclass(frozen=True)
class InstanceConfig:
    """This process among the instances sharing one PostgreSQL store (claims, leases, `connector status`)."""

    # Unique among the running instances; "": <hostname>-<pid> (a restart is then a new instance). A fixed
    # name lets a restarted instance take back its own drop-folder claims at once.
    name: str = ""


@dataclass(frozen=True)
class Config:
    mode: str = "production"  # production | test
    data_dir: str = "var"  # store, directory database, imported LOINC table
    store: StoreConfig = StoreConfig()
    instance: InstanceConfig = InstanceConfig()
    lab: LabConfig = LabConfig()
    intake: IntakeConfig = IntakeConfig()
    mappings: MappingsConfig = MappingsConfig()
    identity: IdentityConfig = IdentityConfig()
    routing: RoutingConfig = RoutingConfig()
    directory: str = ""  # the imported directory database; empty: <data_dir>/directory.sqlite
    smtp: SmtpConfig = SmtpConfig()
    imap: ImapConfig = ImapConfig()
    message: MessageConfig = MessageConfig()
    sil: SilConfig = SilConfig()
    validation: ValidationConfig = ValidationConfig()
    build: BuildConfig = BuildConfig()
    retry: RetryConfig = RetryConfig()
    dmp: DmpConfig = DmpConfig()
    metrics: MetricsConfig = MetricsConfig()
    retention: RetentionConfig = RetentionConfig()
    base_dir: str = ""  # set by the loader: relative paths are relative to the config file

    @property
    def production(self) -> bool:
        return self.mode == "production"

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else Path(self.base_dir or ".") / p

    @property
    def mappings_path(self) -> Path:
        return self.path(self.mappings.dir) if self.mappings.dir else default_mappings_dir()

    @property
    def loinc_path(self) -> Path:
        """The imported LOINC table's folder (the shipped subset is the mapping stage's own data)."""
        return self.path(self.mappings.loinc_dir) if self.mappings.loinc_dir else self.path(self.data_dir) / "loinc"

    @property
    def store_path(self) -> Path:
        return self.path(self.data_dir) / "connector.sqlite"

    @property
    def ans_kit_path(self) -> Path:
        """The validation kit: ``validation.ans_kit``, else the one `connector kit install` put in ``data_dir``."""
        kit = self.validation.ans_kit
        return self.path(kit) if kit else self.path(self.data_dir) / INSTALL_DIR

    @property
    def directory_path(self) -> Path:
        return self.path(self.directory) if self.directory else self.path(self.data_dir) / "directory.sqlite"
