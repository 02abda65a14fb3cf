"""A real SFTP server on 127.0.0.1 for the sandbox and the tests (asyncssh's server), with fault controls.

Each user logs in with a password (or an authorized public key) and sees only its own home
folder, `root/<user>` (chroot). The host key is generated per server; its SHA256 fingerprint
is what a supplier's settings pin. The server runs its own event loop in a daemon thread.

Faults (set on the object while it runs):
  - `down = True`: every new connection is dropped before the SSH handshake (an outage);
  - `slow_seconds = s`: every file open and directory listing waits `s` seconds first;
  - `queue_fault("refuse_write" | "hold_answer" | "drop_connection")`: the next upload is
    refused, or the next write completes and its answer is lost (held / connection dropped).

    server = SandboxSftpServer(tmp_path, {"acme": "secret"}).start()
    server.host, server.port, server.fingerprint   # -> pin the fingerprint in the settings
    server.home("acme")                             # the user's folder on this machine
    server.stop()
"""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Mapping

import asyncssh


class _Sftp(asyncssh.SFTPServer):
    """The stock SFTP server confined to the user's home, slowed down on demand."""

    def __init__(self, chan: asyncssh.SSHServerChannel, server: "SandboxSftpServer"):
        self._sandbox = server
        home = server.home(chan.get_extra_info("username"))
        super().__init__(chan, chroot=str(home).encode())

    async def _slow(self) -> None:
        if self._sandbox.slow_seconds:
            await asyncio.sleep(self._sandbox.slow_seconds)

    async def open(self, path, pflags, attrs):  # noqa: D401 - asyncssh hook
        await self._slow()
        if pflags & asyncssh.FXF_WRITE and self._sandbox.take_fault("refuse_write"):
            raise asyncssh.SFTPFailure("sandbox: the server refused the upload (try again later)")
        return super().open(path, pflags, attrs)

    async def posix_rename(self, oldpath, newpath):
        super().posix_rename(oldpath, newpath)
        self._sandbox.renamed.append(newpath.decode() if isinstance(newpath, bytes) else newpath)
        # Lost answers: the file is in place, but the client never hears so.
        if self._sandbox.take_fault("hold_answer"):
            await asyncio.sleep(self._sandbox.hold_seconds)
        elif self._sandbox.take_fault("drop_connection"):
            self.channel.get_connection().abort()
            await asyncio.sleep(1)

    async def scandir(self, path):  # asyncssh >= 2.14 lists directories through scandir
        await self._slow()
        async for entry in super().scandir(path):
            yield entry


class _Auth(asyncssh.SSHServer):
    def __init__(self, server: "SandboxSftpServer"):
        self._sandbox = server
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._sandbox.connections += 1
        self._sandbox.open_connections.add(conn)
        if self._sandbox.down:
            asyncio.get_running_loop().call_soon(conn.abort)  # an outage: the connection drops before any answer

    def connection_lost(self, exc: Exception | None) -> None:
        self._sandbox.open_connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        key = self._sandbox.authorized_keys.get(username)
        if key and self._conn is not None:
            self._conn.set_authorized_keys(asyncssh.import_authorized_keys(key))
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        expected = self._sandbox.users.get(username)
        return expected is not None and password == expected

    def public_key_auth_supported(self) -> bool:
        return bool(self._sandbox.authorized_keys)


class SandboxSftpServer:
    """One SFTP server: users {name: password}, optional {name: authorized public key (OpenSSH line)}."""

    def __init__(self, root: str | Path, users: Mapping[str, str], *, authorized_keys: Mapping[str, str] | None = None,
                 host: str = "127.0.0.1", port: int = 0, host_key: asyncssh.SSHKey | None = None):
        self.root = Path(root)
        self.users = dict(users)
        self.authorized_keys = dict(authorized_keys or {})
        self.host = host
        self.port = port
        self.host_key = host_key or asyncssh.generate_private_key("ssh-ed25519")
        self.down = False
        self.slow_seconds = 0.0
        self.hold_seconds = 30.0
        self.renamed: list[str] = []  # every file put in place by a rename (a write), as the client named it
        self._faults: list[str] = []
        self._fault_lock = threading.Lock()
        self.connections = 0
        self.open_connections: set = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener = None
        self._thread: threading.Thread | None = None

    def queue_fault(self, kind: str, count: int = 1) -> None:
        """refuse_write: the next upload is refused before anything is written; hold_answer / drop_connection:
        the next rename (the end of a write) happens, then its answer is held past the client's timeout / the connection drops."""
        if kind not in ("refuse_write", "hold_answer", "drop_connection"):
            raise ValueError(kind)
        with self._fault_lock:
            self._faults.extend([kind] * count)

    def take_fault(self, kind: str) -> bool:
        """Consume one queued fault of this kind, if any."""
        with self._fault_lock:
            if kind in self._faults:
                self._faults.remove(kind)
                return True
        return False

    @property
    def fingerprint(self) -> str:
        """The host key's SHA256 fingerprint, as `ssh-keygen -lf` prints it."""
        return self.host_key.get_fingerprint("sha256")

    def home(self, username: str) -> Path:
        """A user's folder on this machine (created)."""
        path = self.root / username
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start(self) -> "SandboxSftpServer":
        """Listen (port 0: a free one, read back into `.port`) and serve in a daemon thread."""
        for user in set(self.users) | set(self.authorized_keys):
            self.home(user)
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._listener = self._loop.run_until_complete(asyncssh.listen(
                    self.host, self.port, server_host_keys=[self.host_key], server_factory=lambda: _Auth(self),
                    sftp_factory=lambda chan: _Sftp(chan, self), allow_scp=False, process_factory=None,
                    reuse_address=True, login_timeout=30,
                ))
                self.port = self._listener.sockets[0].getsockname()[1]
            except BaseException as exc:  # noqa: BLE001 - handed to start()
                failure.append(exc)
            ready.set()
            if not failure:
                self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"sandbox-sftp-{id(self)}", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close the listener and every session, end the thread."""
        if self._loop is None:
            return
        loop, listener = self._loop, self._listener

        async def shutdown() -> None:
            if listener is not None:
                listener.close()
                await listener.wait_closed()
            for conn in list(self.open_connections):
                conn.abort()
            await asyncio.sleep(0.05)
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
        self._loop = None

    def __enter__(self) -> "SandboxSftpServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def start_sftp_server(root: str | Path, users: Mapping[str, str], **options) -> tuple[str, int, str, callable]:
    """Start a sandbox SFTP server: (host, port, host key fingerprint, stop)."""
    server = SandboxSftpServer(root, users, **options).start()
    return server.host, server.port, server.fingerprint, server.stop
