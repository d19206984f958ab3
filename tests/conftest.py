"""Shared fixtures. The real servers (PostgreSQL, OpenSSH sshd) live in tests/servers/."""

pytest_plugins = [
    "tests.servers.postgres",
    "tests.servers.sshd",
    "tests.servers.seaweedfs",
    "tests.servers.redis",
]
