"""FTP and FTPS transport (standard library ftplib), through the egress policy.

The control connection is a socket `egress.connect_tcp` checked and connected; passive data
connections go to the control connection's peer address (ftplib ignores the address a PASV
answer names), so the data never goes anywhere the policy did not check. FTPS is explicit
TLS (AUTH TLS, then PROT P for the data), with the certificate checked against the host name
(`ca_file` for a private CA, e.g. the tests' self-signed server).
"""
from __future__ import annotations

import ftplib
import io
import ssl
import uuid
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import BinaryIO

import httpx

from ... import egress
from .transport import _NAME, RemoteFile, TransportError, safe_folder, safe_name

CHUNK = 1 << 20


class _Egress:
    """connect() through the egress policy instead of socket.create_connection."""

    policy: egress.EgressPolicy | None = None

    def connect(self, host="", port=0, timeout=-999, source_address=None):  # noqa: D401 - ftplib's signature
        self.host, self.port = host, port
        if timeout != -999:
            self.timeout = timeout
        self.sock = egress.connect_tcp(host, port, timeout=self.timeout, policy=self.policy)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


class _Ftp(_Egress, ftplib.FTP):
    pass


class _Ftps(_Egress, ftplib.FTP_TLS):
    pass


class FtpTransport:
    """A folder tree on the supplier's FTP server, under `root` (relative to the login's folder)."""

    def __init__(self, host: str, port: int, username: str, password: str, *, tls: bool = False, root: str = "",
                 timeout: float = 30.0, policy: egress.EgressPolicy | None = None, ca_file: str | None = None):
        self.host, self.port, self.username, self._password = host, int(port), username, password
        self.tls, self.root, self.timeout, self.policy, self.ca_file = tls, safe_folder(root), float(timeout), policy, ca_file
        self._ftp: ftplib.FTP | None = None

    def __repr__(self) -> str:
        return f"FtpTransport({self.username}@{self.host}:{self.port}, tls={self.tls})"

    def _path(self, folder: str, name: str | None = None) -> str:
        parts = [part for part in (self.root, safe_folder(folder)) if part]
        if name is not None:
            parts.append(safe_name(name))
        return "/".join(parts) or "."

    def _client(self) -> ftplib.FTP:
        if self._ftp is not None:
            return self._ftp
        if self.tls:
            context = ssl.create_default_context(cafile=self.ca_file)
            ftp: ftplib.FTP = _Ftps(context=context, timeout=self.timeout, encoding="utf-8")
        else:
            ftp = _Ftp(timeout=self.timeout, encoding="utf-8")
        ftp.policy = self.policy
        try:
            ftp.connect(self.host, self.port, timeout=self.timeout)
            ftp.login(self.username, self._password)  # FTP_TLS.login sends AUTH TLS first
            if self.tls:
                ftp.prot_p()
        except BaseException:
            ftp.close()
            raise
        self._ftp = ftp
        return ftp

    def _run(self, operation):
        try:
            return operation(self._client())
        except ftplib.error_perm as exc:
            code = str(exc)[:3]
            if code == "530":
                self._drop()
                raise TransportError("the FTP server refused the user name or password", permanent=True) from None
            raise TransportError(f"the FTP server refused: {str(exc)[:120]}", permanent=code not in {"550", "450"}) from None
        except egress.EgressRefused as exc:
            self._drop()
            raise TransportError(f"the FTP host is refused by the egress policy ({exc.reason})", permanent=True) from None
        except ssl.SSLCertVerificationError:
            self._drop()
            raise TransportError("the FTPS server's certificate is not valid for its host name", permanent=True) from None
        except (OSError, EOFError, ftplib.Error, httpx.ConnectError) as exc:
            self._drop()
            raise TransportError(f"the FTP connection failed ({type(exc).__name__})") from None

    def _drop(self) -> None:
        ftp, self._ftp = self._ftp, None
        if ftp is not None:
            ftp.close()

    # -- FileTransport -----------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection now (login); TransportError says why not."""
        self._run(lambda ftp: None)

    def list(self, folder: str) -> list[RemoteFile]:
        """The plain files in `folder`, oldest first (MLSD; NLST + SIZE + MDTM on servers without it)."""
        path = self._path(folder)

        def op(ftp: ftplib.FTP) -> list[RemoteFile]:
            found = []
            try:
                for name, facts in ftp.mlsd(path, facts=["type", "size", "modify"]):
                    if facts.get("type") == "file" and not name.startswith(".") and _NAME.match(name):
                        found.append(RemoteFile(name, int(facts.get("size", 0)), _mdtm(facts.get("modify", ""))))
            except ftplib.error_perm as exc:
                if not str(exc).startswith("500") and not str(exc).startswith("502"):
                    raise
                for entry in ftp.nlst(path):
                    name = PurePosixPath(entry).name
                    if name.startswith(".") or not _NAME.match(name):
                        continue
                    try:
                        size = ftp.size(f"{path}/{name}")
                    except ftplib.error_perm:
                        continue  # a folder
                    found.append(RemoteFile(name, int(size or 0), _mdtm(ftp.sendcmd(f"MDTM {path}/{name}")[4:])))
            return sorted(found, key=lambda f: (f.modified, f.name))

        return self._run(op)

    def download(self, folder: str, name: str, sink: BinaryIO) -> int:
        """Stream one file into `sink`."""
        path = self._path(folder, name)
        written = [0]

        def write(chunk: bytes) -> None:
            sink.write(chunk)
            written[0] += len(chunk)

        self._run(lambda ftp: ftp.retrbinary(f"RETR {path}", write, blocksize=CHUNK))
        return written[0]

    def write_atomic(self, folder: str, name: str, data: bytes) -> None:
        """STOR under a dot-temporary name, then RNFR/RNTO over the final name."""
        directory, final = self._path(folder), self._path(folder, name)
        temporary = f"{directory}/.{uuid.uuid4().hex}.part"

        def op(ftp: ftplib.FTP) -> None:
            _makedirs(ftp, directory)
            ftp.storbinary(f"STOR {temporary}", io.BytesIO(data), blocksize=CHUNK)
            _replace(ftp, temporary, final)

        self._run(op)

    def exists(self, folder: str, name: str) -> bool:
        """Whether `name` is a file in `folder`."""
        wanted = safe_name(name)
        return any(entry.name == wanted for entry in self.list(folder)) if self._folder_exists(folder) else False

    def _folder_exists(self, folder: str) -> bool:
        try:
            self.list(folder)
            return True
        except TransportError as exc:
            if exc.permanent or "550" in str(exc) or "450" in str(exc):
                return False
            raise

    def move(self, folder: str, name: str, to_folder: str) -> None:
        """Rename into `to_folder` (created if missing), replacing an older file of that name."""
        source, target_dir = self._path(folder, name), self._path(to_folder)

        def op(ftp: ftplib.FTP) -> None:
            _makedirs(ftp, target_dir)
            _replace(ftp, source, f"{target_dir}/{name}")

        self._run(op)

    def close(self) -> None:
        """QUIT politely, then close."""
        ftp, self._ftp = self._ftp, None
        if ftp is not None:
            try:
                ftp.quit()
            except (OSError, EOFError, ftplib.Error):
                ftp.close()


def _mdtm(text: str) -> float:
    """An MLSD/MDTM time (YYYYMMDDHHMMSS[.sss], UTC) as epoch seconds; 0 when absent."""
    text = text.strip()[:14]
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return 0.0


def _makedirs(ftp: ftplib.FTP, path: str) -> None:
    built = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        built.append(part)
        try:
            ftp.mkd("/".join(built))
        except ftplib.error_perm:
            pass  # already there (servers answer 550 either way; the next command tells)


def _replace(ftp: ftplib.FTP, source: str, target: str) -> None:
    try:
        ftp.rename(source, target)
    except ftplib.error_perm:
        # Servers that refuse to rename over an existing file: delete it first.
        ftp.delete(target)
        ftp.rename(source, target)
