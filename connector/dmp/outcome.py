"""What a DMP transaction came to, classified for the pipeline (dmp.md §6) and for the ZAM^Z01 (§7).

    SUCCESS  the DMP holds the document (or no longer holds it, for a delete): Z01 Y
    RETRY    nothing final: busy, unreachable, a 5xx, an unreadable answer; retried with backoff
    FAILED   the DMP refused it for good: Z01 N with the code; ``stops_queue`` when the cause is our
             own configuration (certificates, structure), which no retry of another document can fix

Labels come from our catalogue, never from the DMP's free text (which may quote the patient).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["DMP_LABELS", "DmpOutcome", "DmpStatus", "Z01Fields"]

# Codes seen from the DMP and IHE XDS (ITI TF-3 4.2.4), with the label the SIL gets in ERR-5.
DMP_LABELS = {
    "DMPClosed": "DMP fermé",
    "DMPFound": "DMP trouvé",
    "DMPAccessDeniedByRightsService": "Accès refusé par le service de droits",
    "DMPInvalidCertificate": "Certificat invalide",
    "XDSUnknownPatientId": "Patient inconnu du DMP",
    "XDSRegistryMetadataError": "Métadonnées refusées par le registre",
    "XDSRepositoryMetadataError": "Métadonnées refusées par l'entrepôt",
    "XDSDuplicateUniqueIdInRegistry": "Identifiant de document déjà présent",
    "XDSNonIdenticalHash": "Empreinte du document différente",
    "XDSMissingDocument": "Document manquant",
    "XDSPatientIdDoesNotMatch": "Identifiant patient différent",
    "XDSRegistryBusy": "Registre occupé",
    "XDSRepositoryBusy": "Entrepôt occupé",
    "XDSRegistryOutOfResources": "Registre sans ressources",
    "XDSRepositoryOutOfResources": "Entrepôt sans ressources",
    "PFI_INS_NON_QUALIFIE": "INS non qualifié : pas d'envoi au DMP",
    "PFI_ID_DOCUMENT_NON_OID": "Identifiant de document non OID",
    "PFI_STRUCTURE_AUTEUR": "Structure auteur différente de la structure du VIHF",
    "PFI_INTERDIT_AUTH_INDIRECTE": "Action interdite en authentification indirecte",
    "PFI_DOCUMENT_ABSENT_DMP": "Document à remplacer ou supprimer absent du DMP",
    "PFI_DMP_INJOIGNABLE": "DMP injoignable après plusieurs tentatives",
    "PFI_REPONSE_DMP_ILLISIBLE": "Réponse du DMP illisible",
    "PFI_TLS": "Connexion TLS au DMP refusée",
    "PFI_CDA_ILLISIBLE": "Document illisible : rien n'a été envoyé au DMP",
}


class DmpStatus(StrEnum):
    SUCCESS = "success"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Z01Fields:
    """OBX-5 (Y/N) and ERR-5 of a ZAM^Z01: ``build_zam("Z01", ok=…, error_code=…, error_label=…)``."""

    ok: bool
    error_code: str = ""
    error_label: str = ""


@dataclass(frozen=True, kw_only=True)
class DmpOutcome:
    status: DmpStatus
    code: str = ""  # DMP / XDS code, SOAP fault subcode, HTTP status, or one of our PFI_* codes
    label: str = ""  # safe to log: our catalogue's text
    entry_uuids: tuple[str, ...] = ()  # TD3.1b: the DMP entryUUID(s) found
    stops_queue: bool = False
    recovered: bool = False  # the request's fate was unknown (no answer) and TD3.1b settled it

    @property
    def ok(self) -> bool:
        return self.status is DmpStatus.SUCCESS

    @classmethod
    def failed(cls, code: str, *, stops_queue: bool = False) -> DmpOutcome:
        return cls(status=DmpStatus.FAILED, code=code, label=DMP_LABELS.get(code, "Erreur DMP"),
                   stops_queue=stops_queue)

    @classmethod
    def retry(cls, code: str, *, stops_queue: bool = False) -> DmpOutcome:
        return cls(status=DmpStatus.RETRY, code=code, label=DMP_LABELS.get(code, "DMP indisponible"),
                   stops_queue=stops_queue)

    def z01(self) -> Z01Fields | None:
        """The Z01 to send now, or None while the outcome is not final (no Z01 while retrying)."""
        if self.status is DmpStatus.SUCCESS:
            return Z01Fields(ok=True)
        if self.status is DmpStatus.FAILED:
            return Z01Fields(ok=False, error_code=self.code, error_label=self.label)
        return None

    def exhausted(self) -> DmpOutcome:
        """The final outcome once retries gave up: Z01 N with a connector-local code (dmp.md §7)."""
        if self.status is not DmpStatus.RETRY:
            return self
        return DmpOutcome.failed("PFI_DMP_INJOIGNABLE")
