"""Reading a supplier's replies from an IMAP mailbox (imapclient), through the egress policy.

The host and port are the merchant's, so they go through integrations/egress.py: the name is
resolved once, every address checked (no loopback, private, link-local... unless the operator
allowed it or in sandbox mode), and the socket connects to the checked address itself, while
TLS still verifies the certificate against the name. Unencrypted IMAP ("none") is accepted
only for hosts the operator allowed (as plain http is).

New messages are found by UID: under the same UIDVALIDITY, those above the last UID taken;
on the first poll, or when the server changed UIDVALIDITY (UIDs renumbered), the UNSEEN ones.
Messages are fetched with BODY.PEEK (reading does not mark them), and marked \\Seen, or moved
to the processed folder, only once the caller has recorded them.
"""
from __future__ import annotations

import imaplib
import socket
import ssl
from dataclasses import dataclass
from typing import Iterator

from imapclient import IMAPClient, tls
from imapclient.exceptions import IMAPClientError

from ... import egress

SECURITY_MODES = ("ssl", "starttls", "none")
MAX_MESSAGES_PER_POLL = 50
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0


class MailboxError(Exception):
    """The mailbox could not be read; the message is short and safe to show the merchant."""


class InvalidMailboxSettings(ValueError):
    """Mailbox settings that cannot be saved (the message names the field, never the password)."""


@dataclass(frozen=True)
class MailboxConfig:
    """Where a supplier's replies are read."""

    host: str
    port: int
    security: str
    username: str
    password: str
    folder: str = "INBOX"
    processed_folder: str | None = None

    def __repr__(self) -> str:  # the password stays out of logs and tracebacks
        return f"MailboxConfig(host={self.host!r}, port={self.port}, security={self.security!r}, folder={self.folder!r})"


@dataclass(frozen=True)
class FetchedMessage:
    """One new message: its UID and raw bytes (None when it was too large to read)."""

    uid: int
    raw: bytes | None
    size: int


def check_target(host: str, port: int, security: str, policy: egress.EgressPolicy | None = None) -> None:
    """InvalidMailboxSettings unless the egress policy lets us reach host:port with this security (resolves the name)."""
    policy = policy or egress.current()
    try:
        addresses = policy.resolve(host, port)
    except egress.EgressRefused as exc:
        raise InvalidMailboxSettings(f"host is refused: {exc.reason} (only public internet hosts are allowed)") from None
    except Exception:  # noqa: BLE001 - httpx.ConnectError: the name does not resolve
        raise InvalidMailboxSettings(f"host {host} does not resolve") from None
    if security == "none" and not policy.is_operator_allowed(host, addresses):
        raise InvalidMailboxSettings("security must be ssl or starttls (unencrypted IMAP only to hosts the operator allowed)")


class _PinnedIMAP4(imaplib.IMAP4):
    """imaplib's IMAP4 connecting to a checked address; `host` stays the name (STARTTLS verifies against it)."""

    def __init__(self, host: str, port: int, address: str, timeout: float | None):
        self._address = address
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return socket.create_connection((self._address, self.port), timeout=timeout)


class _PinnedIMAP4TLS(tls.IMAP4_TLS):
    """imapclient's implicit-TLS IMAP4 connecting to a checked address, verifying the certificate against the name."""

    def __init__(self, host: str, port: int, address: str, ssl_context: ssl.SSLContext | None, timeout: float | None):
        self._address = address
        super().__init__(host, port, ssl_context, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = socket.create_connection((self._address, self.port), timeout=timeout if timeout is not None else self._timeout)
        return tls.wrap_socket(sock, self.ssl_context, self.host)


class _PolicyIMAPClient(IMAPClient):
    """IMAPClient whose connection goes to an address the egress policy checked."""

    def __init__(self, host: str, port: int, *, address: str, use_ssl: bool, ssl_context: ssl.SSLContext | None, timeout: float):
        self._checked_address = address
        super().__init__(host, port=port, use_uid=True, ssl=use_ssl, ssl_context=ssl_context, timeout=timeout)

    def _create_IMAP4(self):  # noqa: N802 - imapclient's name
        connect_timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _PinnedIMAP4TLS(self.host, self.port, self._checked_address, self.ssl_context, connect_timeout)
        return _PinnedIMAP4(self.host, self.port, self._checked_address, connect_timeout)


class Mailbox:
    """One session with a supplier's mailbox: `with Mailbox(config) as box: box.new_messages(...)`."""

    def __init__(self, config: MailboxConfig, *, policy: egress.EgressPolicy | None = None, timeout: float = DEFAULT_TIMEOUT, ssl_context: ssl.SSLContext | None = None):
        self.config = config
        self._policy = policy or egress.current()
        self._timeout = timeout
        self._ssl_context = ssl_context  # tests: a context trusting the test server's CA
        self._client: IMAPClient | None = None
        self.uidvalidity: int | None = None

    def __enter__(self) -> "Mailbox":
        self._client = self._connect()
        try:
            self._client.login(self.config.username, self.config.password)
            selected = self._client.select_folder(self._server_name(self.config.folder))
        except IMAPClientError as exc:
            self.close()
            raise MailboxError(_reason(exc)) from None
        self.uidvalidity = int(selected[b"UIDVALIDITY"])
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Log out (quietly: the session is over either way)."""
        if self._client is not None:
            try:
                self._client.logout()
            except Exception:  # noqa: BLE001
                pass
            self._client = None

    def _connect(self) -> IMAPClient:
        config = self.config
        if config.security not in SECURITY_MODES:
            raise MailboxError(f"unknown security {config.security!r}")
        try:
            addresses = self._policy.resolve(config.host, config.port)
        except egress.EgressRefused as exc:
            raise MailboxError(f"refused by egress policy: {exc.reason}") from None
        except Exception:  # noqa: BLE001 - the name does not resolve
            raise MailboxError(f"{config.host} does not resolve") from None
        if config.security == "none" and not self._policy.is_operator_allowed(config.host, addresses):
            raise MailboxError("unencrypted IMAP is allowed only to hosts the operator allowed")
        context = self._ssl_context or tls.create_default_context()
        last: Exception | None = None
        for address in addresses:
            try:
                client = _PolicyIMAPClient(config.host, config.port, address=str(address), use_ssl=config.security == "ssl", ssl_context=context, timeout=self._timeout)
                if config.security == "starttls":
                    client.starttls(context)
                return client
            except (OSError, IMAPClientError, imaplib.IMAP4.error) as exc:
                last = exc
        raise MailboxError(_reason(last) if last else f"could not connect to {config.host}")

    def _server_name(self, folder: str) -> str:
        """A folder written with "/" (as merchants and Gmail write them) in the server's own hierarchy delimiter."""
        assert self._client is not None
        if "/" not in folder:
            return folder
        listed = self._client.list_folders(directory="", pattern="")  # RFC 3501: answers with the delimiter
        delimiter = listed[0][1] if listed and listed[0][1] else b"/"
        delimiter = delimiter.decode() if isinstance(delimiter, bytes) else str(delimiter)
        return folder.replace("/", delimiter)

    def new_messages(self, uidvalidity: int | None, last_uid: int | None, limit: int = MAX_MESSAGES_PER_POLL) -> list[int]:
        """UIDs of the messages not taken yet (see the module docstring), oldest first, at most `limit`."""
        assert self._client is not None
        try:
            if uidvalidity == self.uidvalidity and last_uid:
                # "n:*" always includes the highest UID even when it is below n: filter.
                uids = [uid for uid in self._client.search(["UID", f"{last_uid + 1}:*"]) if uid > last_uid]
            else:
                uids = list(self._client.search(["UNSEEN"]))
        except IMAPClientError as exc:
            raise MailboxError(_reason(exc)) from None
        return sorted(uids)[:limit]

    def fetch(self, uids: list[int]) -> Iterator[FetchedMessage]:
        """The messages' bytes, without marking them read; one too large comes with raw=None."""
        assert self._client is not None
        try:
            sizes = self._client.fetch(uids, ["RFC822.SIZE"])
            for uid in uids:
                size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
                if size > MAX_MESSAGE_BYTES:
                    yield FetchedMessage(uid, None, size)
                    continue
                data = self._client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {})
                yield FetchedMessage(uid, data.get(b"BODY[]"), size)
        except IMAPClientError as exc:
            raise MailboxError(_reason(exc)) from None

    def finish(self, uid: int) -> None:
        """Mark a recorded message \\Seen, and move it to the processed folder when one is set."""
        assert self._client is not None
        try:
            self._client.add_flags([uid], [b"\\Seen"])
            target = self._server_name(self.config.processed_folder) if self.config.processed_folder else None
            if target:
                if not self._client.folder_exists(target):
                    self._client.create_folder(target)
                if self._client.has_capability("MOVE"):
                    self._client.move([uid], target)
                else:
                    self._client.copy([uid], target)
                    self._client.delete_messages([uid])
                    self._client.uid_expunge([uid]) if self._client.has_capability("UIDPLUS") else self._client.expunge()
        except IMAPClientError as exc:
            raise MailboxError(_reason(exc)) from None


def _reason(exc: BaseException | None) -> str:
    """A short reason for the merchant: never the server's whole answer (it may echo the login)."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, IMAPClientError) and "LoginError" in type(exc).__name__:
        return "login failed (check the user name and password)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({type(exc).__name__})"
    if isinstance(exc, socket.timeout):
        return "the server did not answer in time"
    if isinstance(exc, OSError):
        return f"could not connect ({type(exc).__name__})"
    return f"the server refused ({type(exc).__name__}: {str(exc)[:120]})"
