"""OpenSSH sshd fixture on 127.0.0.1."""
