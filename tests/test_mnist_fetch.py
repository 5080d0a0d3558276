"""``xordsim data fetch`` against a local HTTP server on 127.0.0.1."""

import functools
import hashlib
import http.server
import sys
import threading

import pytest

from xordsim._validate import InputError
from xordsim.cli import data as cli_data
from xordsim.cli._common import OneLineParser
from xordsim.mnist import fetch as mfetch


def main(argv) -> int:
    """``xordsim data ...`` as ``xordsim.cli.main`` runs it."""
    parser = OneLineParser(prog="xordsim")
    cli_data.add_parser(parser.add_subparsers(dest="command", parser_class=OneLineParser))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"xordsim {args.command}: error: {exc}", file=sys.stderr)
        return 2


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):  # noqa: N802
        if self.path.endswith("/short.gz"):  # announces 100 bytes, sends 10, hangs up
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "mirror"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _publish(root, files):
    sums = {}
    for name, content in files.items():
        (root / name).write_bytes(content)
        sums[name] = hashlib.sha256(content).hexdigest()
    return sums


def test_fetch_keeps_good_files(server, tmp_path):
    root, url = server
    sums = _publish(root, {"a.gz": b"alpha" * 1000, "b.gz": b"beta"})
    out = tmp_path / "out"
    paths = mfetch.fetch(out, url, sums, quiet=True)
    assert [p.name for p in paths] == ["a.gz", "b.gz"]
    assert (out / "a.gz").read_bytes() == b"alpha" * 1000
    # already present and valid: kept without a download (server emptied)
    (root / "a.gz").unlink()
    assert mfetch.fetch(out, url, {"a.gz": sums["a.gz"]}, quiet=True)[0].exists()


def test_fetch_rejects_bad_checksum(server, tmp_path):
    root, url = server
    sums = _publish(root, {"a.gz": b"alpha"})
    sums["a.gz"] = "0" * 64
    out = tmp_path / "out"
    with pytest.raises(InputError, match="SHA-256 mismatch.*deleted"):
        mfetch.fetch(out, url, sums, quiet=True)
    assert not out.exists()  # the directory it created is removed again
    out.mkdir()
    with pytest.raises(InputError, match="SHA-256 mismatch.*deleted"):
        mfetch.fetch(out, url, sums, quiet=True)
    assert list(out.iterdir()) == []  # no partial or temporary file left


def test_failed_fetch_removes_the_directories_it_created(server, tmp_path):
    root, url = server
    sums = _publish(root, {"a.gz": b"alpha", "b.gz": b"beta"})
    sums["c.gz"] = "0" * 64  # not on the mirror
    out = tmp_path / "new" / "deeper"
    with pytest.raises(InputError, match="download failed"):
        mfetch.fetch(out, url, sums, quiet=True)
    assert not (tmp_path / "new").exists()
    # in an existing directory, the verified files stay (the next run skips them)
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(InputError, match="download failed"):
        mfetch.fetch(kept, url, sums, quiet=True)
    assert sorted(p.name for p in kept.iterdir()) == ["a.gz", "b.gz"]


def test_fetch_missing_file_and_bad_mirror(server, tmp_path):
    _, url = server
    with pytest.raises(InputError, match="download failed"):
        mfetch.fetch(tmp_path, url, {"missing.gz": "0" * 64}, quiet=True)
    with pytest.raises(InputError, match="download failed"):
        mfetch.fetch(tmp_path, url, {"short.gz": "0" * 64}, quiet=True)
    assert not (tmp_path / "short.gz").exists()
    with pytest.raises(InputError, match="mirror must be"):
        mfetch.fetch(tmp_path, "ftp://x", {}, quiet=True)


def test_fetch_cli(server, tmp_path, monkeypatch, capsys):
    root, url = server
    files = {name: name.encode() * 50 for name in mfetch.MNIST_SHA256}
    monkeypatch.setattr(mfetch, "MNIST_SHA256", _publish(root, files))
    out = tmp_path / "data"
    rc = main(["data", "fetch", "mnist", "--dir", str(out), "--mirror", url, "--quiet"])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(files)
    capsys.readouterr()
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(b"tampered")
    (out / "t10k-labels-idx1-ubyte.gz").unlink()
    rc = main(["data", "fetch", "mnist", "--dir", str(out), "--mirror", url, "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "SHA-256 mismatch" in err and err.count("\n") == 1
    assert not (out / "t10k-labels-idx1-ubyte.gz").exists()


def test_published_checksums_are_well_formed():
    assert len(mfetch.MNIST_SHA256) == 4
    assert all(len(v) == 64 and int(v, 16) >= 0 for v in mfetch.MNIST_SHA256.values())


def test_fetch_cli_failing_mirror_leaves_nothing(server, tmp_path, capsys):
    _, url = server  # an empty mirror: the first download fails
    out = tmp_path / "data"
    rc = main(["data", "fetch", "mnist", "--dir", str(out), "--mirror", url, "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "download failed" in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("bad", ["file.txt/sub", "file.txt", "/proc/xordsim-test", ""])
def test_fetch_cli_bad_dir(bad, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    rc = main(["data", "fetch", "mnist", "--dir", bad, "--mirror", "http://127.0.0.1:9/"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("xordsim data fetch: error: --dir") and err.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_fetch_cli_bad_mirror_creates_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(mfetch.MIRROR_ENV, raising=False)
    rc = main(["data", "fetch", "mnist", "--dir", str(tmp_path / "d"), "--mirror", "ftp://x"])
    err = capsys.readouterr().err
    assert rc == 2 and "--mirror must be an http(s):// or file:// URL" in err
    monkeypatch.setenv(mfetch.MIRROR_ENV, "gopher://x")
    rc = main(["data", "fetch", "mnist", "--dir", str(tmp_path / "d")])
    assert rc == 2 and "gopher" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
