r"""Real update channels on loopback: a Python index, an apt repository, a release feed.

:class:`ChannelServer` is the standard library's HTTP server over a folder, plus what an
index does beyond static files: a project folder holding ``index.json`` answers
``Accept: application/vnd.pypi.simple.v1+json`` with it (PEP 691), else ``index.html``
(PEP 503); and every POST is kept (a webhook's receiver). The builders write what real
channels hold: wheels that pip installs (:func:`build_wheel`), a simple index over them
(:func:`write_simple_index`), release tarballs with their SHA-256 in a feed
(:func:`build_release`, :func:`write_release_feed`).

Example::

    with ChannelServer(root) as server:
        build_wheel(root / "files", "shop", "1.1", {"shop/__init__.py": "VERSION = '1.1'\n"})
        write_simple_index(root / "simple", root / "files", server.url + "/files/")
        # an application's channel: {type: pypi, index: <server.url>/simple/}
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
import zipfile
from collections.abc import Mapping
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = [
    "ChannelServer",
    "build_release",
    "build_wheel",
    "write_release_feed",
    "write_simple_index",
]

_PEP691 = "application/vnd.pypi.simple.v1+json"


class _Handler(SimpleHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass

    def do_GET(self) -> None:
        folder = Path(self.translate_path(self.path))
        wanted = self.headers.get("Accept", "")
        if folder.is_dir() and (folder / "index.json").exists() and _PEP691 in wanted:
            body = (folder / "index.json").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", _PEP691)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with self.server.lock:
            self.server.posts.append((self.path, body))
        self.send_response(self.server.post_status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        self.root = root
        self.posts: list[tuple[str, bytes]] = []
        self.post_status = 204
        self.lock = threading.Lock()

        def handler(*args: Any) -> _Handler:
            return _Handler(*args, directory=str(root))

        super().__init__(("127.0.0.1", 0), handler)


class ChannelServer:
    """A loopback HTTP server over ``root``; stop it with :meth:`stop` (or use ``with``)."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self._server = _Server(root)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def posts(self) -> list[tuple[str, bytes]]:
        """Every POST received so far: (path, body)."""
        with self._server.lock:
            return list(self._server.posts)

    def answer_posts_with(self, status: int) -> None:
        """Answer later POSTs with ``status`` (a webhook that fails)."""
        self._server.post_status = status

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> ChannelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def build_wheel(folder: Path, name: str, version: str, files: Mapping[str, str]) -> Path:
    """Write a pure-Python wheel of ``name`` ``version`` holding ``files``; its path.

    A real wheel (``WHEEL``, ``METADATA``, ``RECORD`` with hashes), so pip installs it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    contents: dict[str, bytes] = {k: v.encode() for k, v in files.items()}
    contents[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        f"Summary: {name} {version}, built by a test\n"
    ).encode()
    contents[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: patchwarden-testing\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n"
    )
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in contents.items()]
    record.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
    return wheel


def write_simple_index(simple: Path, files: Path, files_url: str) -> list[str]:
    """A PEP 503 and PEP 691 index under ``simple`` of every wheel and sdist in ``files``.

    ``files_url`` is where ``files`` is served. Returns the projects written.
    """
    by_project: dict[str, list[Path]] = {}
    for path in sorted(files.iterdir()):
        if path.suffix == ".whl" or path.name.endswith(".tar.gz"):
            project = path.name.split("-", 1)[0].replace("_", "-").lower()
            by_project.setdefault(project, []).append(path)
    root_links = []
    for project, paths in by_project.items():
        page = simple / project
        page.mkdir(parents=True, exist_ok=True)
        entries = []
        for path in paths:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            entries.append({"filename": path.name, "url": files_url + path.name, "sha": sha})
        links = "\n".join(
            f'<a href="{e["url"]}#sha256={e["sha"]}">{e["filename"]}</a><br/>' for e in entries
        )
        (page / "index.html").write_text(
            f"<!DOCTYPE html><html><body><h1>Links for {project}</h1>\n{links}\n</body></html>\n"
        )
        (page / "index.json").write_text(
            json.dumps(
                {
                    "meta": {"api-version": "1.1"},
                    "name": project,
                    "files": [
                        {"filename": e["filename"], "url": e["url"], "hashes": {"sha256": e["sha"]}}
                        for e in entries
                    ],
                }
            )
        )
        root_links.append(f'<a href="{project}/">{project}</a>')
    simple.mkdir(parents=True, exist_ok=True)
    (simple / "index.html").write_text("<html><body>" + "\n".join(root_links) + "</body></html>")
    return list(by_project)


def build_release(folder: Path, name: str, version: str, files: Mapping[str, str]) -> Path:
    """A release tarball ``<name>-<version>.tar.gz`` holding ``files``; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    tarball = folder / f"{name}-{version}.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        for path, text in files.items():
            data = text.encode()
            member = tarfile.TarInfo(path)
            member.size = len(data)
            member.mode = 0o644
            archive.addfile(member, io.BytesIO(data))
    return tarball


def write_release_feed(
    feed: Path, releases: Mapping[str, Path], base_url: str, notes_url: str = ""
) -> dict[str, Any]:
    """A JSON release feed of ``{version: tarball}``, served from ``base_url``; its content."""
    content = {
        "releases": [
            {
                "version": version,
                "url": base_url + tarball.name,
                "sha256": hashlib.sha256(tarball.read_bytes()).hexdigest(),
                **({"notes": f"{notes_url}{version}"} if notes_url else {}),
            }
            for version, tarball in releases.items()
        ]
    }
    feed.parent.mkdir(parents=True, exist_ok=True)
    feed.write_text(json.dumps(content, indent=2))
    return content
