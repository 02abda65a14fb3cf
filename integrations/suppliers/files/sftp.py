"""SFTP transport (asyncssh): host-key pinning, password or key login, through the egress policy.

Why asyncssh rather than paramiko: one well-kept library gives both the client here and the
sandbox's real SFTP server (sandbox/supplier/sftp_server.py), and it lets us hand it a socket
we connected ourselves, so the egress policy checks the address that is actually used.

The supplier's host key is pinned by its SHA256 fingerprint (as `ssh-keygen -lf` prints it,
"SHA256:..."): a server presenting any other key is refused before we log in, so a password
never reaches an impostor. ~/.ssh/known_hosts, ~/.ssh/config and the SSH agent are never
read: a tenant's connection must not depend on (or use) the operator's files.

The app is synchronous: the transport owns a private event loop and runs each operation on
it to completion, with the operation's timeout.
"""
from __future__ import annotations

import asyncio
import stat as stat_module
import uuid
from pathlib import PurePosixPath
from typing import Any, BinaryIO

import asyncssh
import httpx

from ... import egress
from .transport import _NAME, RemoteFile, TransportError, safe_folder, safe_name

CHUNK = 1 << 20


class HostKeyMismatch(TransportError):
    """The server's host key is not the pinned one (a changed server, or someone in between): never retried by itself."""

    def __init__(self, presented: str | None):
        super().__init__(
            f"the SFTP server's host key ({presented or 'unknown'}) is not the one pinned for this supplier; "
            "if the supplier really changed its key, check the new fingerprint with them and save it in the supplier's settings",
            permanent=True,
        )
        self.presented = presented


def normalize_fingerprint(value: str) -> str:
    """'SHA256:abc' / 'abc' -> 'SHA256:abc' (the form OpenSSH prints); ValueError for anything else."""
    text = (value or "").strip()
    if text.upper().startswith("SHA256:"):
        text = text[7:]
    text = text.rstrip("=")
    if not text or len(text) != 43 or any(not (ch.isalnum() or ch in "+/") for ch in text):
        raise ValueError("the host key fingerprint must look like SHA256:<43 characters>, as `ssh-keygen -lf` prints it")
    return "SHA256:" + text


class _PinnedClient(asyncssh.SSHClient):
    """Accepts exactly the pinned host key and remembers what the server presented."""

    def __init__(self, pinned: str):
        self.pinned = pinned
        self.presented: str | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.presented = key.get_fingerprint("sha256")
        return self.presented == self.pinned


def _no_known_hosts(host: str, addr: str, port: int | None) -> tuple[list, list, list]:
    # Trust nothing from files: every key goes through _PinnedClient.validate_host_public_key.
    return [], [], []


class SftpTransport:
    """A folder tree on the supplier's SFTP server, under `root` (relative to the login's home)."""

    def __init__(self, host: str, port: int, username: str, *, host_key_fingerprint: str, password: str | None = None,
                 private_key: str | None = None, root: str = "", timeout: float = 30.0, policy: egress.EgressPolicy | None = None):
        if not password and not private_key:
            raise ValueError("SFTP needs a password or a private key")
        self.host, self.port, self.username = host, int(port), username
        self.fingerprint = normalize_fingerprint(host_key_fingerprint)
        self._password, self._private_key = password, private_key
        self.root = safe_folder(root)
        self.timeout = float(timeout)
        self.policy = policy
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: Any = None
        self._sftp: Any = None

    def __repr__(self) -> str:
        return f"SftpTransport({self.username}@{self.host}:{self.port})"

    # -- plumbing --------------------------------------------------------------------------

    def _path(self, folder: str, name: str | None = None) -> str:
        path = PurePosixPath(self.root or ".") / safe_folder(folder)
        return str(path / safe_name(name)) if name is not None else str(path)

    def _run(self, operation):
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        try:
            return self._loop.run_until_complete(asyncio.wait_for(operation(), self.timeout))
        except TransportError:
            raise
        except asyncssh.SFTPNoSuchFile as exc:
            raise TransportError(f"no such file or folder ({exc.reason})") from None
        except asyncssh.SFTPPermissionDenied:
            raise TransportError("the SFTP server refused access to that file or folder", permanent=True) from None
        except asyncssh.PermissionDenied:
            self._drop()
            raise TransportError("the SFTP server refused the user name, password or key", permanent=True) from None
        except egress.EgressRefused as exc:
            self._drop()
            raise TransportError(f"the SFTP host is refused by the egress policy ({exc.reason})", permanent=True) from None
        except (asyncio.TimeoutError, TimeoutError):
            self._drop()
            raise TransportError("the SFTP server did not answer in time") from None
        except (OSError, asyncssh.Error, httpx.ConnectError, EOFError) as exc:
            self._drop()
            raise TransportError(f"the SFTP connection failed ({type(exc).__name__})") from None

    async def _client(self):
        if self._sftp is not None:
            return self._sftp
        # Connect through the egress policy (blocking, bounded by the timeout), then hand asyncssh the socket.
        sock = egress.connect_tcp(self.host, self.port, timeout=self.timeout, policy=self.policy)
        sock.setblocking(False)
        keys = [asyncssh.import_private_key(self._private_key)] if self._private_key else None
        pinned = _PinnedClient(self.fingerprint)
        try:
            conn, _ = await asyncssh.create_connection(
                lambda: pinned, self.host, self.port, sock=sock, known_hosts=_no_known_hosts, config=None, agent_path=None,
                username=self.username, password=self._password, client_keys=keys, preferred_auth=("publickey", "password") if keys else ("password", "keyboard-interactive"),
                login_timeout=self.timeout, connect_timeout=self.timeout,
            )
        except asyncssh.HostKeyNotVerifiable:
            sock.close()
            raise HostKeyMismatch(pinned.presented) from None
        except BaseException:
            sock.close()
            raise
        self._conn = conn
        self._sftp = await conn.start_sftp_client()
        return self._sftp

    def _drop(self) -> None:
        conn, self._conn, self._sftp = self._conn, None, None
        if conn is not None:
            conn.abort()

    # -- FileTransport -----------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection now (checks host key and login); TransportError says why not."""
        self._run(self._client)

    def list(self, folder: str) -> list[RemoteFile]:
        """The plain files in `folder`, oldest first."""
        path = self._path(folder)

        async def op():
            sftp = await self._client()
            found = []
            for entry in await sftp.readdir(path):
                attrs = entry.attrs
                regular = attrs.type == asyncssh.FILEXFER_TYPE_REGULAR or (attrs.permissions is not None and stat_module.S_ISREG(attrs.permissions))
                if regular and not entry.filename.startswith(".") and _NAME.match(entry.filename):
                    found.append(RemoteFile(entry.filename, int(attrs.size or 0), float(attrs.mtime or 0)))
            return sorted(found, key=lambda f: (f.modified, f.name))

        return self._run(op)

    def download(self, folder: str, name: str, sink: BinaryIO) -> int:
        """Stream one file into `sink` in 1 MiB chunks."""
        path = self._path(folder, name)

        async def op():
            sftp = await self._client()
            written = 0
            async with sftp.open(path, "rb") as source:
                while chunk := await source.read(CHUNK):
                    sink.write(chunk)
                    written += len(chunk)
            return written

        return self._run(op)

    def write_atomic(self, folder: str, name: str, data: bytes) -> None:
        """Upload under a dot-temporary name, then rename over the final name (posix-rename: atomic replace)."""
        directory = self._path(folder)
        final = self._path(folder, name)
        temporary = str(PurePosixPath(directory) / f".{uuid.uuid4().hex}.part")

        async def op():
            sftp = await self._client()
            await sftp.makedirs(directory, exist_ok=True)
            async with sftp.open(temporary, "wb") as out:
                await out.write(data)
            await self._replace(sftp, temporary, final)

        self._run(op)

    def exists(self, folder: str, name: str) -> bool:
        """Whether `name` is a file in `folder`."""
        path = self._path(folder, name)

        async def op():
            sftp = await self._client()
            return await sftp.isfile(path)

        return self._run(op)

    def move(self, folder: str, name: str, to_folder: str) -> None:
        """Rename into `to_folder` (created if missing), replacing an older file of that name."""
        source, target_dir = self._path(folder, name), self._path(to_folder)

        async def op():
            sftp = await self._client()
            await sftp.makedirs(target_dir, exist_ok=True)
            await self._replace(sftp, source, str(PurePosixPath(target_dir) / name))

        self._run(op)

    @staticmethod
    async def _replace(sftp, source: str, target: str) -> None:
        try:
            await sftp.posix_rename(source, target)
        except asyncssh.SFTPOpUnsupported:
            # Servers without the OpenSSH extension: plain rename refuses to overwrite, so remove first.
            if await sftp.exists(target):
                await sftp.remove(target)
            await sftp.rename(source, target)

    def close(self) -> None:
        """Close the connection and the private event loop."""
        if self._loop is None:
            return
        conn, self._conn, self._sftp = self._conn, None, None
        if conn is not None:
            conn.close()
            try:
                self._loop.run_until_complete(asyncio.wait_for(conn.wait_closed(), 5))
            except (asyncio.TimeoutError, OSError, asyncssh.Error):
                pass
        self._loop.close()
        self._loop = None
