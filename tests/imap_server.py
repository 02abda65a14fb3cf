"""A throwaway IMAP server (Debian's dovecot-imapd), started for the tests as tests/pg_server.py starts PostgreSQL.

Dovecot runs from a config written to a temporary directory: IMAP only, on a free loopback
port, any user name with the server's one password (a static passdb: users exist as soon
as a test names them, each with its own Maildir under the same directory). As root, its login and mail processes
run as `nobody` (dovecot refuses root for them); otherwise everything runs as the caller.
"""
from __future__ import annotations

import grp
import imaplib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

DOVECOT = "/usr/sbin/dovecot"


class ImapUnavailable(RuntimeError):
    """Debian's dovecot-imapd package is not installed (make test installs it)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
# A wrong password is answered at once: no 2 s failure delay, and no anvil penalty (up to 15 s a login from an IP
# that failed before). The tests log in wrong on purpose; a real server keeps both against guessing.
auth_failure_delay = 0
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
  chroot =
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


@dataclass
class ImapServer:
    """A running dovecot: where it listens, its users, and ways to put mail in and look at it."""

    root: str
    port: int
    process: subprocess.Popen
    password: str
    host: str = "127.0.0.1"
    imaps_port: int = 0  # implicit TLS (0: started without TLS)

    def login(self, name: str) -> imaplib.IMAP4:
        """An IMAP session as this user (the test's own view of the mailbox)."""
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        client.login(name, self.password)
        return client

    def deliver(self, name: str, raw: bytes, folder: str = "INBOX") -> int:
        """Put a message in the user's folder (IMAP APPEND, unread); returns its UID."""
        client = self.login(name)
        try:
            if folder != "INBOX":
                client.create(folder)
            typ, data = client.append(folder, None, None, raw)
            assert typ == "OK", data
            # [APPENDUID <uidvalidity> <uid>]
            return int(data[0].decode().split("APPENDUID ", 1)[1].split("]")[0].split()[1])
        finally:
            client.logout()

    def flags(self, name: str, folder: str = "INBOX") -> dict[int, str]:
        """UID -> flags of every message in the folder."""
        client = self.login(name)
        try:
            typ, data = client.select(folder, readonly=True)
            assert typ == "OK", data
            typ, data = client.uid("FETCH", "1:*", "(FLAGS)")
            result = {}
            for item in data:
                if not item:
                    continue
                text = item.decode()
                uid = int(text.split("UID ", 1)[1].split()[0].rstrip(")"))
                result[uid] = text.split("FLAGS (", 1)[1].split(")", 1)[0]
            return result
        finally:
            client.logout()

    def stop(self) -> None:
        """Stop dovecot and delete its files."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def start_imap_server(tls_files: tuple[str, str] | None = None) -> ImapServer:
    """dovecot -F with a throwaway config on a free loopback port; waits until it greets.

    tls_files: (certificate, key) PEM paths: STARTTLS on the IMAP port, implicit TLS on `imaps_port`.
    """
    if not os.access(DOVECOT, os.X_OK):
        raise ImapUnavailable(f"no {DOVECOT}: install Debian's dovecot-imapd package (make system-deps)")
    root = tempfile.mkdtemp(prefix="imap-test-")
    password = secrets.token_hex(12)
    os.chmod(root, 0o755)
    if os.geteuid() == 0:
        account = pwd.getpwnam("nobody")
        user, uid, gid = "nobody", account.pw_uid, account.pw_gid
    else:
        user, uid, gid = pwd.getpwuid(os.geteuid()).pw_name, os.geteuid(), os.getegid()
    group = grp.getgrgid(gid).gr_name
    for sub in ("run", "state", "mail"):
        os.makedirs(os.path.join(root, sub))
    os.chown(os.path.join(root, "mail"), uid, gid)
    port, imaps_port = _free_port(), (_free_port() if tls_files else 0)
    ssl = f"ssl = yes\nssl_cert = <{tls_files[0]}\nssl_key = <{tls_files[1]}" if tls_files else "ssl = no"
    config = os.path.join(root, "dovecot.conf")
    with open(config, "w") as handle:
        handle.write(CONFIG.format(root=root, user=user, group=group, uid=uid, gid=gid, port=port, password=password, ssl=ssl, imaps_port=imaps_port))
    server = ImapServer(root, port, subprocess.Popen([DOVECOT, "-F", "-c", config], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), password,
                        imaps_port=imaps_port)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            error = server.process.stderr.read().decode(errors="replace")
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"dovecot exited: {error[-500:]}")
        try:
            server.login("probe").logout()
            return server
        except (OSError, imaplib.IMAP4.error):
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("dovecot did not accept a login within 20 s")
