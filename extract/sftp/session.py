"""One authenticated SFTP session with host-key checking and transfer-friendly tuning.

Why a module of its own: host-key policy, key loading and the paramiko window/packet
settings are security- and performance-critical, and every worker thread opens its own
session through this single function.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import paramiko

from extract.sftp.channel import install_chunk_pipe
from extract.sftp.credentials import SftpCredentials
from extract.sftp.errors import HostKeyError, SftpAuthError, SftpConfigError, SftpConnectError

log = logging.getLogger(__name__)

# The SSH channel window (16 MiB) is above the bytes the reader keeps in flight (8 MiB), so
# sshd never waits for a window adjustment, yet bounds what can pile up unread. A large maximum packet lets sshd send a whole SFTP read
# reply in one or two SSH packets instead of eight 32 KiB ones: paramiko pays Python
# overhead per packet, so this alone roughly triples throughput (see docs/performance.md).
WINDOW_SIZE = 16 * 1024 * 1024
MAX_PACKET_SIZE = 1024 * 1024
# AES-GCM is an AEAD cipher: one pass of C code per packet instead of AES-CTR plus a
# separate HMAC, which is what limits paramiko's throughput. Fallbacks for older servers.
PREFERRED_CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
    "aes192-ctr",
)
CONNECT_TIMEOUT = 30.0
# A read that hears nothing for this long means a dead link, not a slow one.
IO_TIMEOUT = 120.0

#: What a failing link raises (a dead socket, a closed channel, an SSH protocol error):
#: reconnecting and resuming may help, unlike a refused file or a refused login.
LINK_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, paramiko.SSHException)


def pause_before_retry(attempt: int) -> None:
    """Exponential back-off before reconnecting: 2, 4, 8 ... seconds, at most 30."""
    time.sleep(min(2.0**attempt, 30.0))


class _RefuseUnknownHost(paramiko.RejectPolicy):
    """RejectPolicy with a message that tells the operator what to check and how to fix."""

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> NoReturn:
        raise HostKeyError(
            f"host key of {hostname} ({key.get_name()} {key.fingerprint}) is not in the "
            f"known_hosts file {self.known_hosts}: connection refused. Confirm this fingerprint "
            "with the file-exchange server's administrators (not from the server itself), "
            f"then add the line to {self.known_hosts}, e.g. "
            f"`ssh-keyscan -p <port> <host> >> {self.known_hosts}` after checking the output."
        )


def load_private_key(credentials: SftpCredentials) -> paramiko.PKey | None:
    """The client key (Ed25519, RSA or ECDSA) from the key file or the inline key text."""
    passphrase = credentials.key_passphrase
    try:
        if credentials.key_file is not None:
            if not credentials.key_file.is_file():
                raise SftpConfigError(
                    f"SFTP key file {credentials.key_file} (from {credentials.source}) not found"
                )
            return paramiko.PKey.from_path(credentials.key_file, passphrase)
        if credentials.private_key:
            for key_class in (paramiko.Ed25519Key, paramiko.RSAKey, paramiko.ECDSAKey):
                try:
                    return key_class.from_private_key(
                        io.StringIO(credentials.private_key), passphrase
                    )
                except paramiko.PasswordRequiredException:
                    raise
                except (paramiko.SSHException, ValueError):
                    continue
            raise SftpConfigError(
                f"the private key given inline in {credentials.source} is not a readable "
                "Ed25519, RSA or ECDSA key"
            )
    except paramiko.PasswordRequiredException:
        raise SftpConfigError(
            f"the SFTP private key from {credentials.source} is encrypted: give its passphrase "
            "(CRM_SFTP_KEY_PASSPHRASE or the connection's private_key_passphrase extra)"
        ) from None
    except (paramiko.SSHException, ValueError) as exc:
        raise SftpConfigError(
            f"the SFTP private key from {credentials.source} cannot be read: "
            f"{type(exc).__name__} (wrong passphrase or unsupported format?)"
        ) from None
    return None


def _transport_factory(sock: Any, **kwargs: Any) -> paramiko.Transport:
    transport = paramiko.Transport(
        sock, default_window_size=WINDOW_SIZE, default_max_packet_size=MAX_PACKET_SIZE, **kwargs
    )
    options = transport.get_security_options()
    offered = [c for c in PREFERRED_CIPHERS if c in options.ciphers]
    options.ciphers = tuple(offered + [c for c in options.ciphers if c not in offered])
    return transport


@dataclass
class SftpSession:
    """An SSH connection and its SFTP channel; close it when done (context manager)."""

    client: paramiko.SSHClient
    sftp: paramiko.SFTPClient
    where: str

    def close(self) -> None:
        """Close quietly: after a dropped link there is nothing left to say goodbye to."""
        with contextlib.suppress(*LINK_ERRORS):
            self.sftp.close()
        with contextlib.suppress(*LINK_ERRORS):
            self.client.close()

    def __enter__(self) -> SftpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_session(credentials: SftpCredentials, known_hosts: Path) -> SftpSession:
    """Connect, check the host key against `known_hosts` (refusing unknown or changed keys),
    authenticate, and open an SFTP channel with a large window."""
    known_hosts = known_hosts.expanduser()
    if not known_hosts.is_file():
        raise HostKeyError(
            f"known_hosts file {known_hosts} not found: the server's host key cannot be checked, "
            "so no connection is made. Create it with the file-exchange server's host key "
            "line, confirmed with its administrators."
        )
    pkey = load_private_key(credentials)
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(_RefuseUnknownHost(known_hosts))
    where = credentials.where
    try:
        client.connect(
            credentials.host,
            port=credentials.port,
            username=credentials.user,
            pkey=pkey,
            password=credentials.password,
            look_for_keys=False,
            allow_agent=False,
            timeout=CONNECT_TIMEOUT,
            banner_timeout=CONNECT_TIMEOUT,
            auth_timeout=CONNECT_TIMEOUT,
            transport_factory=_transport_factory,
        )
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(30)
        sftp = paramiko.SFTPClient.from_transport(
            transport, window_size=WINDOW_SIZE, max_packet_size=MAX_PACKET_SIZE
        )
        if sftp is None:
            raise SftpConnectError(f"{where}: the server refused the SFTP subsystem")
        channel = sftp.get_channel()
        if channel is not None:
            channel.settimeout(IO_TIMEOUT)
            install_chunk_pipe(channel)  # fewer copies per received byte (channel.py)
    except HostKeyError:
        client.close()
        raise
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise HostKeyError(
            f"host key of {credentials.host}:{credentials.port} CHANGED: the server sent "
            f"{exc.key.get_name()} {exc.key.fingerprint} but {known_hosts} has "
            f"{exc.expected_key.get_name()} {exc.expected_key.fingerprint}. Connection refused: "
            "this may be an attack. Ask the file-exchange server's administrators whether the "
            "key was rotated; only if they confirm the new fingerprint, replace the old line "
            f"(`ssh-keygen -R '[{credentials.host}]:{credentials.port}' -f {known_hosts}`) "
            "and add the new one."
        ) from None
    except paramiko.AuthenticationException:
        client.close()
        methods = " and ".join(
            m
            for m, used in (
                ("key " + str(credentials.key_file or "(inline)"), pkey is not None),
                ("password", credentials.password is not None),
            )
            if used
        )
        raise SftpAuthError(
            f"{where} refused authentication with {methods} (credentials from "
            f"{credentials.source}): check the user, that the public key is in the server's "
            "authorized_keys, or that the password is current"
        ) from None
    except LINK_ERRORS as exc:
        client.close()
        raise SftpConnectError(
            f"cannot open an SFTP session to {where}: {type(exc).__name__}: {exc}"
        ) from None
    log.debug("SFTP session open to %s", where)
    return SftpSession(client=client, sftp=sftp, where=where)
