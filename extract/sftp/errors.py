"""Errors of the SFTP source. Each message says what happened and what the operator does.

None of them ever carries a password, a passphrase or key material: they name the user,
the host, the known_hosts file and the remote or local file involved, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

from common.errors import PipelineError


class SftpError(PipelineError):
    """Base of the SFTP source's errors."""


class SftpConfigError(SftpError):
    """Credentials or settings are missing or unusable (nothing was attempted)."""


class HostKeyError(SftpError):
    """The server's host key is unknown or changed: we refuse to talk to it."""


class SftpAuthError(SftpError):
    """The server refused our key or password."""


class SftpConnectError(SftpError):
    """The server could not be reached or the SSH session could not be set up."""


class UnsafeRemoteName(SftpError):
    """A remote name would land outside the landing zone (`..`, absolute, link)."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"refused remote name {name!r}: {reason}")


class PushVerifyError(SftpError):
    """The uploaded temporary file does not match the local file: nothing was renamed."""


class FlagDeadlineError(SftpError):
    """Some `.ok` flags had not appeared when the deadline passed."""

    def __init__(self, business_date: str, deadline: str, missing: Sequence[str]) -> None:
        self.business_date = business_date
        self.missing = list(missing)
        shown = "\n  ".join(self.missing)
        super().__init__(
            f"business date {business_date}: {len(self.missing)} flag file(s) still missing at "
            f"the deadline {deadline}:\n  {shown}\n"
            "Files whose flag had arrived are landed and verified; ask the sending system "
            "(or the file-exchange team) about the missing ones, then rerun the extraction: "
            "it fetches only what is not landed yet."
        )


class SftpTransferError(SftpError):
    """Transfers failed after every retry (connection dropped, server error)."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = dict(failures)
        shown = "\n  ".join(f"{name}: {why}" for name, why in sorted(self.failures.items()))
        super().__init__(
            f"{len(self.failures)} transfer(s) failed after retrying:\n  {shown}\n"
            "Bytes already received are kept in the landing zone's .partial folder; rerun the "
            "extraction once the link is back and it continues where it stopped."
        )


class PushFailedError(SftpError):
    """A push kept failing on the link: what was sent stays under temporary names."""

    def __init__(self, where: str, attempts: int, reason: str) -> None:
        super().__init__(
            f"push to {where} failed after {attempts} attempt(s): {reason}. The bytes already "
            "sent stay on the server under '.<name>.part' names and no flag was written for "
            "them; push again once the link is back and it continues where it stopped"
        )
