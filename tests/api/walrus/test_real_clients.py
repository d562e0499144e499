"""Real S3 clients beyond the SDKs, from Debian: rclone, restic and s3fs.

Each drives the in-process Walrus as a user would. A test skips, saying why,
when its binary is missing (scripts/host-deps.sh installs them) or, for s3fs,
when this host cannot mount FUSE file systems.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.api.walrus.helpers import ALICE


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (Debian package: scripts/host-deps.sh installs it)")
    return path


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "hello.txt": b"hello walrus\n",
        "empty": b"",
        "sub/data.bin": os.urandom(300_000),
        "sub/deeper/with space & unicode \u00e9.txt": "caf\u00e9\n".encode(),
        "big.bin": os.urandom(12 * 1024 * 1024),   # multipart with the flags below
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


@pytest.fixture
def uploads(monkeypatch):
    """(x-amz-content-sha256, Expect) of every request body Walrus reads (same process)."""
    import walrus.body
    seen: list[tuple[str | None, str | None]] = []
    original = walrus.body.RequestBody.__init__

    def record(self, request, *args, **kwargs):
        seen.append((request.headers.get("x-amz-content-sha256"), request.headers.get("Expect")))
        original(self, request, *args, **kwargs)
    monkeypatch.setattr(walrus.body.RequestBody, "__init__", record)
    return seen


def same_tree(a: Path, b: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        assert (b / name).read_bytes() == data, name
    got = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    assert got == sorted(files), got


# --- rclone -------------------------------------------------------------------

@pytest.fixture
def rclone(server, tmp_path):
    binary = need("rclone")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RCLONE_", "AWS_"))}
    env.update(RCLONE_CONFIG=str(tmp_path / "rclone.conf"), RCLONE_CONFIG_W_TYPE="s3",
               RCLONE_CONFIG_W_PROVIDER="Other", RCLONE_CONFIG_W_ENV_AUTH="false",
               RCLONE_CONFIG_W_ACCESS_KEY_ID=ALICE.access_key_id,
               RCLONE_CONFIG_W_SECRET_ACCESS_KEY=ALICE.secret_access_key,
               RCLONE_CONFIG_W_ENDPOINT=server.endpoint, RCLONE_CONFIG_W_REGION="mallee",
               RCLONE_CONFIG_W_FORCE_PATH_STYLE="true")
    (tmp_path / "rclone.conf").write_text("")

    def run(*args, check=True):
        done = subprocess.run([binary, "--low-level-retries", "1", "--retries", "1", *args],
                              env=env, capture_output=True, text=True, timeout=180)
        if check:
            assert done.returncode == 0, done.stderr
        return done
    return run


def test_rclone_copy_up_down_and_check(rclone, tmp_path, s3):
    src, back = tmp_path / "src", tmp_path / "back"
    src.mkdir()
    files = make_tree(src)
    rclone("mkdir", "w:rclone-b1")
    # Small cut-off and chunks so big.bin goes up as a 3-part multipart upload.
    rclone("copy", str(src), "w:rclone-b1/tree", "--s3-upload-cutoff", "5M",
           "--s3-chunk-size", "5M")
    listing = rclone("ls", "w:rclone-b1").stdout
    for name, data in files.items():
        assert f"{len(data)} tree/{name}" in listing, listing

    # rclone trusts a single-part ETag as the object's MD5: check compares hashes.
    done = rclone("check", str(src), "w:rclone-b1/tree")
    assert "0 differences found" in done.stderr
    hashes = dict(reversed(line.split("  ", 1)) for line in
                  rclone("md5sum", "w:rclone-b1/tree").stdout.splitlines())
    for name in ("hello.txt", "sub/data.bin", "big.bin"):
        assert hashes[name] == md5(src / name), name
    head = s3.head_object(Bucket="rclone-b1", Key="tree/hello.txt")
    assert head["ETag"] == f'"{md5(src / "hello.txt")}"'
    # Unversioned bucket: no version id anywhere (rclone would otherwise track versions).
    assert "x-amz-version-id" not in head["ResponseMetadata"]["HTTPHeaders"]
    assert "VersionId" not in head

    rclone("copy", "w:rclone-b1/tree", str(back))
    same_tree(src, back, files)
    again = rclone("copy", "-v", str(src), "w:rclone-b1/tree").stderr
    assert "Copied" not in again          # nothing changed, nothing sent

    entries = json.loads(rclone("lsjson", "-R", "--hash", "w:rclone-b1").stdout)
    assert {e["Path"] for e in entries if not e["IsDir"]} == {f"tree/{n}" for n in files}
    (src / "hello.txt").write_bytes(b"changed\n")
    differs = rclone("check", str(src), "w:rclone-b1/tree", check=False)
    assert differs.returncode != 0 and "1 differences found" in differs.stderr
    rclone("sync", str(src), "w:rclone-b1/tree")
    rclone("check", str(src), "w:rclone-b1/tree")
    rclone("purge", "w:rclone-b1")
    assert "rclone-b1" not in rclone("lsd", "w:").stdout


# --- restic -------------------------------------------------------------------

def test_restic_backup_restore_check(server, tmp_path, uploads):
    binary = need("restic")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTIC_", "AWS_"))}
    env.update(RESTIC_REPOSITORY=f"s3:{server.endpoint}/restic-b1/repo",
               RESTIC_PASSWORD="correct horse battery staple",
               AWS_ACCESS_KEY_ID=ALICE.access_key_id,
               AWS_SECRET_ACCESS_KEY=ALICE.secret_access_key, AWS_DEFAULT_REGION="mallee",
               RESTIC_CACHE_DIR=str(tmp_path / "cache"), HOME=str(tmp_path))

    def restic(*args):
        done = subprocess.run([binary, *args], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return done

    src = tmp_path / "src"
    src.mkdir()
    files = make_tree(src)
    restic("init")                       # creates the bucket, config and keys
    restic("backup", "--host", "t", str(src))
    # minio-go over plain HTTP signs every chunk (aws-chunked, chained signatures).
    assert ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", None) in uploads, uploads
    (src / "hello.txt").write_bytes(b"second snapshot\n")
    files["hello.txt"] = b"second snapshot\n"
    restic("backup", "--host", "t", str(src))
    snapshots = json.loads(restic("snapshots", "--json").stdout)
    assert len(snapshots) == 2
    restic("restore", "latest", "--target", str(tmp_path / "restored"))
    same_tree(src, tmp_path / "restored" / src.relative_to("/"), files)
    restic("check", "--read-data")       # every pack downloaded and its hashes verified
    restic("forget", "--keep-last", "1", "--prune")
    restic("check")


# --- s3fs ---------------------------------------------------------------------

def _fuse_unavailable() -> str | None:
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse in this sandbox"
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR))
    except OSError as exc:
        return f"cannot open /dev/fuse: {exc}"
    if os.geteuid() != 0 and shutil.which("fusermount") is None \
            and shutil.which("fusermount3") is None:
        return "no fusermount for an unprivileged mount"
    return None


@pytest.fixture
def s3fs_mount(server, s3, tmp_path):
    binary = need("s3fs")
    reason = _fuse_unavailable()
    if reason:
        pytest.skip(f"s3fs needs FUSE: {reason}")
    s3.create_bucket(Bucket="s3fs-b1")
    passwd = tmp_path / "passwd"
    passwd.write_text(f"{ALICE.access_key_id}:{ALICE.secret_access_key}\n")
    passwd.chmod(0o600)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.Popen(
        [binary, "s3fs-b1", str(mnt), "-f", "-o", f"url={server.endpoint}",
         "-o", "use_path_request_style", "-o", f"passwd_file={passwd}",
         "-o", "endpoint=mallee", "-o", "sigv4", "-o", "dbglevel=warn",
         "-o", "stat_cache_expire=1", "-o", "retries=1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 20
    while not os.path.ismount(mnt):
        if proc.poll() is not None or time.time() > deadline:
            out = proc.communicate(timeout=5)[0] if proc.poll() is not None else ""
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            pytest.skip(f"s3fs could not mount here (FUSE not permitted?): {out.strip()[-300:]}")
        time.sleep(0.1)
    try:
        yield mnt
    finally:
        unmount = shutil.which("fusermount") or shutil.which("fusermount3")
        subprocess.run([unmount, "-u", str(mnt)] if unmount else ["umount", str(mnt)],
                       capture_output=True)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="s3fs-b1"):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket="s3fs-b1", Key=obj["Key"])
        s3.delete_bucket(Bucket="s3fs-b1")


def test_s3fs_mount_read_write(s3fs_mount, s3, uploads):
    mnt = s3fs_mount
    data = os.urandom(3 * 1024 * 1024 + 17)
    (mnt / "file.bin").write_bytes(data)
    (mnt / "dir").mkdir()                            # a "dir/" directory object
    (mnt / "dir" / "note.txt").write_text("note\n")
    assert sorted(os.listdir(mnt)) == ["dir", "file.bin"]
    assert (mnt / "file.bin").read_bytes() == data
    assert any(expect == "100-continue" for _, expect in uploads), uploads
    assert (mnt / "dir" / "note.txt").read_text() == "note\n"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="s3fs-b1")["Contents"]}
    assert {"file.bin", "dir/", "dir/note.txt"} <= keys
    got = s3.get_object(Bucket="s3fs-b1", Key="file.bin")["Body"].read()
    assert got == data
    (mnt / "file.bin").rename(mnt / "renamed.bin")     # copy + delete underneath
    assert (mnt / "renamed.bin").read_bytes() == data
    (mnt / "dir" / "note.txt").unlink()
    (mnt / "dir").rmdir()
    (mnt / "renamed.bin").unlink()
    assert os.listdir(mnt) == []
