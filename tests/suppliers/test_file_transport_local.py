"""The local folder transport: confined to its root, atomic for readers, oldest first."""
import io
import os

import pytest

from integrations.suppliers.files.transport import LocalFolderTransport, TransportError, safe_folder, safe_name


def test_write_is_atomic_and_listed_oldest_first(tmp_path):
    transport = LocalFolderTransport(tmp_path)
    transport.write_atomic("out", "b.csv", b"x")
    transport.write_atomic("out", "a.csv", b"yy")
    os.utime(tmp_path / "out" / "b.csv", (1, 1))
    (tmp_path / "out" / ".half.part").write_bytes(b"half")  # a writer's temporary: never listed
    assert [(f.name, f.size) for f in transport.list("out")] == [("b.csv", 1), ("a.csv", 2)]
    sink = io.BytesIO()
    assert transport.download("out", "a.csv", sink) == 2 and sink.getvalue() == b"yy"


def test_move_to_archive(tmp_path):
    transport = LocalFolderTransport(tmp_path)
    transport.write_atomic("in", "t.csv", b"1")
    transport.move("in", "t.csv", "in/archive")
    assert not transport.exists("in", "t.csv") and transport.exists("in/archive", "t.csv")
    with pytest.raises(TransportError):
        transport.move("in", "t.csv", "in/archive")


@pytest.mark.parametrize("bad", ["../x", "a/../../b", "a\\b", ".hidden", "x\x00y"])
def test_paths_outside_the_root_are_refused(tmp_path, bad):
    transport = LocalFolderTransport(tmp_path / "root")
    with pytest.raises(ValueError):
        transport.list(bad) if "/" in bad or bad.startswith(".") else transport.exists("", bad)


def test_names_and_folders(tmp_path):
    assert safe_folder("/in/archive/") == "in/archive" and safe_folder("") == ""
    # a leading slash means the transport's root (SFTP users type "/in"), never the machine's root
    LocalFolderTransport(tmp_path).write_atomic("/etc", "x.csv", b"1")
    assert (tmp_path / "etc" / "x.csv").exists()
    assert safe_name("PO-123.csv") == "PO-123.csv"
    for bad in ("", "..", "a/b", ".x", "a" * 201):
        with pytest.raises(ValueError):
            safe_name(bad)
