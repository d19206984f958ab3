"""The SFTP source and sink (paramiko lives in extract/ only, here).

Laid out by role, as Airflow's SFTP provider is (hooks / sensors / operators):

connection (the "hook")
    credentials.py  who we are: `SftpCredentials`, the provider protocol, the environment
    session.py      one authenticated session: host keys, keys, tuning, link errors
    channel.py      the channel's receive buffer without paramiko's copies
    reader.py       pipelined requests and their replies, strictly in order
    names.py        remote and local names, and the checks that keep them inside
waiting for flags (the "sensor")
    listing.py      one look at a date's folders: jobs ready, flags missing, refused
fetching one file
    job.py          a file to fetch and what became of it
    partial.py      the `.partial/` files: what an earlier attempt left that can be kept
    stream.py       a plain download (the partial file stays a prefix)
    ranged.py       a large file over several connections, with the range sidecar
    commit.py       verify against the flag, then rename into place
    transfer.py     the steps above, for one file
the actions (the "operators")
    workers.py      many files at once within one connection budget
    fetcher.py      `SftpFetcher.fetch_date`: a business date into the landing zone
    upload.py       one upload to a `.part` name, continuing a verified earlier prefix
    push.py         `push_files` / `push_file`: export files to the CRM data server
    deliver.py      `deliver`: connect, push, reconnect and resume when the link drops
errors.py           every error of the above, with what the operator does
"""

from __future__ import annotations

from extract.sftp.credentials import CredentialsProvider, SftpCredentials, from_environment
from extract.sftp.errors import (
    FlagDeadlineError,
    HostKeyError,
    PushVerifyError,
    SftpAuthError,
    SftpConfigError,
    SftpConnectError,
    SftpError,
    SftpTransferError,
    UnsafeRemoteName,
)
from extract.sftp.fetcher import FetchReport, SftpFetcher
from extract.sftp.job import FetchedFile
from extract.sftp.push import PushedFile, push_file
from extract.sftp.session import SftpSession, open_session

__all__ = [
    "CredentialsProvider",
    "FetchReport",
    "FetchedFile",
    "FlagDeadlineError",
    "HostKeyError",
    "PushVerifyError",
    "PushedFile",
    "SftpAuthError",
    "SftpConfigError",
    "SftpConnectError",
    "SftpCredentials",
    "SftpError",
    "SftpFetcher",
    "SftpSession",
    "SftpTransferError",
    "UnsafeRemoteName",
    "from_environment",
    "open_session",
    "push_file",
]
