"""SFTP and FTP/FTPS transports against real servers on 127.0.0.1: the same behaviour as the local folder, plus what only a network adds."""
import io
import logging

import pytest

from ftp_testkit import TestFtpServer
from integrations import egress
from integrations.suppliers.files.ftp import FtpTransport
from integrations.suppliers.files.sftp import HostKeyMismatch, SftpTransport, normalize_fingerprint
from integrations.suppliers.files.transport import LocalFolderTransport, TransportError
from sandbox.supplier.sftp_server import SandboxSftpServer

SANDBOX = egress.EgressPolicy(sandbox=True)
logging.getLogger("pyftpdlib").setLevel(logging.WARNING)


@pytest.fixture(params=["local", "sftp", "ftp", "ftps"])
def remote(request, tmp_path):
    """(transport, the folder on this machine that the transport's root is)."""
    kind = request.param
    if kind == "local":
        yield LocalFolderTransport(tmp_path), tmp_path
        return
    if kind == "sftp":
        with SandboxSftpServer(tmp_path, {"acme": "pw"}) as server:
            transport = SftpTransport(server.host, server.port, "acme", password="pw", host_key_fingerprint=server.fingerprint, policy=SANDBOX, timeout=15)
            yield transport, server.home("acme")
            transport.close()
        return
    with TestFtpServer(tmp_path, "acme", "pw", tls=kind == "ftps") as server:
        transport = FtpTransport(server.host, server.port, "acme", "pw", tls=kind == "ftps", ca_file=server.ca_file, policy=SANDBOX, timeout=15)
        yield transport, server.home
        transport.close()


def test_round_trip_on_every_transport(remote):
    transport, folder = remote
    transport.write_atomic("outbox", "PO-1.csv", b"first")
    transport.write_atomic("outbox", "PO-1.csv", b"second!")  # a retry rewrites the same name: still one file
    assert (folder / "outbox" / "PO-1.csv").read_bytes() == b"second!"
    assert [p.name for p in (folder / "outbox").iterdir()] == ["PO-1.csv"]  # no temporary left behind
    (folder / "outbox" / ".upload.part").write_bytes(b"half")
    assert [(f.name, f.size) for f in transport.list("outbox")] == [("PO-1.csv", 7)]
    sink = io.BytesIO()
    assert transport.download("outbox", "PO-1.csv", sink) == 7 and sink.getvalue() == b"second!"
    assert transport.exists("outbox", "PO-1.csv") and not transport.exists("outbox", "PO-2.csv")
    transport.move("outbox", "PO-1.csv", "archive")
    assert not transport.exists("outbox", "PO-1.csv") and transport.exists("archive", "PO-1.csv")
    with pytest.raises(TransportError):
        transport.download("outbox", "PO-1.csv", io.BytesIO())
    with pytest.raises(ValueError):
        transport.list("../elsewhere")


def test_sftp_refuses_a_changed_host_key_before_logging_in(tmp_path):
    with SandboxSftpServer(tmp_path, {"acme": "pw"}) as server:
        impostor = SandboxSftpServer(tmp_path / "impostor", {"acme": "pw"}).start()
        try:
            transport = SftpTransport(impostor.host, impostor.port, "acme", password="pw", host_key_fingerprint=server.fingerprint, policy=SANDBOX, timeout=15)
            with pytest.raises(HostKeyMismatch) as refused:
                transport.list("")
            assert refused.value.permanent and refused.value.presented == impostor.fingerprint
            assert "not the one pinned" in str(refused.value)
            transport.close()
        finally:
            impostor.stop()


def test_sftp_key_login_and_wrong_password(tmp_path):
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    with SandboxSftpServer(tmp_path, {"acme": "pw"}, authorized_keys={"keyed": key.export_public_key().decode()}) as server:
        keyed = SftpTransport(server.host, server.port, "keyed", private_key=key.export_private_key().decode(), host_key_fingerprint=server.fingerprint, policy=SANDBOX, timeout=15)
        keyed.write_atomic("", "hello.csv", b"1")
        assert (server.home("keyed") / "hello.csv").exists()
        keyed.close()
        wrong = SftpTransport(server.host, server.port, "acme", password="nope", host_key_fingerprint=server.fingerprint, policy=SANDBOX, timeout=15)
        with pytest.raises(TransportError) as refused:
            wrong.list("")
        assert refused.value.permanent and "refused the user name" in str(refused.value)
        wrong.close()


def test_outage_is_retryable_and_loopback_is_refused_outside_the_sandbox(tmp_path):
    with SandboxSftpServer(tmp_path, {"acme": "pw"}) as server:
        server.down = True
        down = SftpTransport(server.host, server.port, "acme", password="pw", host_key_fingerprint=server.fingerprint, policy=SANDBOX, timeout=15)
        with pytest.raises(TransportError) as outage:
            down.list("")
        assert not outage.value.permanent
        server.down = False
        assert down.list("") == []  # the next attempt reconnects
        down.close()
        strict = SftpTransport(server.host, server.port, "acme", password="pw", host_key_fingerprint=server.fingerprint, policy=egress.EgressPolicy(), timeout=15)
        connections = server.connections
        with pytest.raises(TransportError) as refused:
            strict.list("")
        assert refused.value.permanent and "egress policy" in str(refused.value)
        assert server.connections == connections  # refused before connecting
        strict.close()
    ftp = FtpTransport("127.0.0.1", 21, "acme", "pw", policy=egress.EgressPolicy(), timeout=5)
    with pytest.raises(TransportError) as refused:
        ftp.list("")
    assert refused.value.permanent and "loopback" in str(refused.value)


def test_ftps_checks_the_certificate(tmp_path):
    with TestFtpServer(tmp_path, "acme", "pw", tls=True) as server:
        untrusted = FtpTransport(server.host, server.port, "acme", "pw", tls=True, policy=SANDBOX, timeout=15)  # no CA: self-signed refused
        with pytest.raises(TransportError) as refused:
            untrusted.list("")
        assert refused.value.permanent and "certificate" in str(refused.value)


def test_fingerprints():
    fingerprint = "SHA256:" + "a" * 43
    assert normalize_fingerprint("a" * 43) == fingerprint and normalize_fingerprint(f" {fingerprint}= ") == fingerprint
    for bad in ("", "MD5:aa:bb", "SHA256:short", "SHA256:" + "!" * 43):
        with pytest.raises(ValueError):
            normalize_fingerprint(bad)
