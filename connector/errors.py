"""One exception tree, split by what the pipeline does next.

    ConnectorError
    ├── TransientError            retry later with backoff; the report keeps its state
    │   ├── StoreUnavailable      the store could not commit (no ACK is sent)
    │   ├── SmtpTemporaryError    4xx, connection lost, timeout, TLS handshake not completed
    │   ├── ImapUnavailable       IMAP down or refusing login
    │   ├── DmpUnavailable        the DMP could not be reached or was busy (the request did not land)
    │   └── ValidationUnavailable the validation gate could not check the document (a worker stopped)
    └── PermanentError            the input or report goes to quarantine with the reason
        ├── InputError            bad input: the message names file, segment, field, expectation
        │   └── MalformedHL7
        ├── UnmappedCode          a local code with no mapping, when the config holds such reports
        │   ├── UnitNotUcum       a unit with no UCUM form: the report WAITS for a mapping
        │   └── LoincUnitConflict a LOINC code whose property contradicts the unit: the report WAITS
        ├── MappingFileError      a mapping file that does not load or lint (file, line, key)
        ├── CdaBuildError         the document could not be built or failed validation
        │   ├── ReportRefused     the report cannot be a valid CR-BIO document: ``reason`` says why
        │   └── DocumentRejected  it fails the official XSD or an ANS schematron: held, never sent
        ├── RoutingError          a MetaDMPMSS combination outside the matrix, no possible recipient
        │   └── NoAddressYet      no directory entry yet: the report WAITS and is retried (not quarantined)
        ├── SmtpRejected          5xx for a recipient or for the whole message
        ├── DmpRefused            the DMP (or our own DMP rules) refused the document: Z01 N with the code
        └── ConfigError           the configuration is wrong (file, line, key, expectation)
            └── KitError          the ANS validation kit is absent, incomplete or does not compile

Rules for every class here: ``str(exc)`` never holds patient data (names, birth
dates, INS/NIR, result values, raw segments). Errors carry *where* (file, segment,
field, report id) and *what was expected*, never *what was found* when that could
be a patient value. Each class's docstring is its default message.
"""

from __future__ import annotations

from connector.model.outcomes import RefusalReason

__all__ = [
    "CdaBuildError",
    "ConfigError",
    "ConnectorError",
    "DmpRefused",
    "DmpUnavailable",
    "DocumentRejected",
    "ImapUnavailable",
    "InputError",
    "KitError",
    "LoincUnitConflict",
    "MalformedHL7",
    "MappingFileError",
    "NoAddressYet",
    "PermanentError",
    "ReportRefused",
    "RoutingError",
    "SmtpRejected",
    "SmtpTemporaryError",
    "StoreUnavailable",
    "TransientError",
    "UnitNotUcum",
    "UnmappedCode",
    "ValidationUnavailable",
]


class ConnectorError(Exception):
    """Connector error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class TransientError(ConnectorError):
    """A temporary failure: the operation will be retried."""


class PermanentError(ConnectorError):
    """A permanent failure: the item goes to quarantine with this reason."""


class StoreUnavailable(TransientError):
    """The durable store could not commit."""


class SmtpTemporaryError(TransientError):
    """The SMTP server answered with a temporary failure or could not be reached."""

    def __init__(self, message: str | None = None, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class ImapUnavailable(TransientError):
    """The IMAP server is unreachable or refused the login."""


class ValidationUnavailable(TransientError):
    """The validation gate could not check the document (a worker stopped or timed out): retried later."""


class DmpUnavailable(TransientError):
    """The DMP could not be reached or did not answer: the request is sent again later.

    ``sent`` is True when the whole request had been written before the failure (a read timeout, a
    connection reset while waiting): the DMP may have acted on it, so the caller checks before resending.
    """

    def __init__(self, message: str | None = None, *, sent: bool = False) -> None:
        super().__init__(message)
        self.sent = sent


class DmpRefused(PermanentError):
    """The DMP document cannot be sent as it is.

    ``code`` is the DMP or XDS error code (or a connector-local code), the ZAM^Z01 ERR-5 code.
    """

    def __init__(self, message: str | None = None, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class InputError(PermanentError):
    """The input could not be read.

    ``source`` is the file name or ``mllp:<peer>``; ``segment`` is e.g. ``OBX[3]``
    (the third OBX of the message); ``field`` is e.g. ``OBX-5``; ``expected`` says
    what a valid value looks like. The found value is never included.
    """

    def __init__(
        self,
        expected: str,
        *,
        source: str = "",
        segment: str = "",
        field: str = "",
        message_index: int | None = None,
    ) -> None:
        self.source = source
        self.segment = segment
        self.field = field
        self.expected = expected
        self.message_index = message_index
        super().__init__(self.describe())

    def describe(self) -> str:
        where = [p for p in (self.source, self._message_label(), self.segment, self.field) if p]
        return f"{' '.join(where) or 'input'}: expected {self.expected}"

    def _message_label(self) -> str:
        return f"message {self.message_index}" if self.message_index is not None else ""

    def located(self, source: str) -> InputError:
        """The same error with the input's file name filled in."""
        return type(self)(
            self.expected,
            source=source,
            segment=self.segment,
            field=self.field,
            message_index=self.message_index,
        )


class MalformedHL7(InputError):
    """The HL7 message is not well formed."""


class UnmappedCode(PermanentError):
    """A local test code has no mapping and the configuration holds such reports."""

    def __init__(self, local_code: str, *, report_id: str = "") -> None:
        self.local_code = local_code
        self.report_id = report_id
        super().__init__(
            f"report {report_id or '?'}: local code {local_code!r} has no entry in mappings/"
        )


class UnitNotUcum(UnmappedCode):
    """A result's unit has no UCUM form; the report waits until a mapping says which unit it is.

    The unit as sent is named (a unit is not patient data), never the value.
    """

    def __init__(self, local_code: str, *, unit: str, edit: str, report_id: str = "", why: str = "") -> None:
        self.local_code = local_code
        self.report_id = report_id
        self.unit = unit
        self.edit = edit
        PermanentError.__init__(
            self,
            f"report {report_id or '?'}: local code {local_code!r}: unit {unit!r} has no UCUM form"
            + (f" ({why})" if why else "") + f"; {edit}",
        )


class LoincUnitConflict(UnmappedCode):
    """A LOINC code whose property contradicts the result's unit; the report waits for a mapping."""

    def __init__(self, local_code: str, *, loinc: str, unit: str, expected: str, edit: str,
                 report_id: str = "") -> None:
        self.local_code = local_code
        self.report_id = report_id
        self.loinc = loinc
        self.unit = unit
        self.expected = expected
        self.edit = edit
        PermanentError.__init__(
            self,
            f"report {report_id or '?'}: local code {local_code!r}: LOINC {loinc} measures {expected}, "
            f"not a quantity in {unit!r}; {edit}",
        )


class _FileLocated(PermanentError):
    """An error in a file people edit, written ``path:line [key]: message`` as editors and linters do."""

    def __init__(self, message: str, *, path: str = "", line: int | None = None, key: str = "") -> None:
        self.path = path
        self.line = line
        self.key = key
        self.detail = message  # without the location: for a caller that names the file another way
        where = path + (f":{line}" if line is not None else "")
        where += f" [{key}]" if key else ""
        super().__init__(f"{where}: {message}" if where else message)


class MappingFileError(_FileLocated):
    """A mapping file failed to load or lint."""


class CdaBuildError(PermanentError):
    """The CDA document could not be built or failed validation."""


class ReportRefused(CdaBuildError):
    """The report cannot become a valid CR-BIO document; it is held with the reason and what to do.

    ``reason`` is a :class:`connector.model.outcomes.RefusalReason` (refusals are counted by class).
    """

    def __init__(self, message: str, *, reason: RefusalReason) -> None:
        super().__init__(message)
        self.reason = reason


class DocumentRejected(CdaBuildError):
    """The CDA document fails the official XSD or an ANS schematron: it is held and never sent.

    ``problems`` are one line each: the schematron (or ``xsd``), the location in the document
    and the assertion's text with any value from the document replaced by ``…``.
    """

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        self.problems = problems
        super().__init__(message)


class RoutingError(PermanentError):
    """No valid recipient could be determined for the report."""


class NoAddressYet(RoutingError):
    """No MSSanté address for the recipient yet: the report waits for a directory import and is retried."""


class SmtpRejected(PermanentError):
    """The SMTP server permanently refused the message or a recipient."""

    def __init__(self, message: str | None = None, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class ConfigError(_FileLocated):
    """The configuration is invalid."""


class KitError(ConfigError):
    """The ANS validation kit is absent, incomplete or does not compile."""
