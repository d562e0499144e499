"""The command-line tools a user runs: awscli's high-level s3 commands, s3cmd
(SigV2 and SigV4) and curl on a presigned URL."""
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.api.walrus.helpers import ALICE

def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def test_awscli_high_level_commands(aws, tmp_path):
    aws("s3", "mb", "s3://cli-b1")
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(100):
            f.write(os.urandom(1024 * 1024))
    aws("s3", "cp", str(big), "s3://cli-b1/big.bin")
    aws("s3", "cp", "s3://cli-b1/big.bin", str(tmp_path / "back.bin"))
    assert sha256(tmp_path / "back.bin") == sha256(big)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "one.txt").write_text("one")
    (tree / "sub" / "two.txt").write_text("two")
    aws("s3", "sync", str(tree), "s3://cli-b1/tree")
    listing = aws("s3", "ls", "--recursive", "s3://cli-b1").stdout
    assert "tree/one.txt" in listing and "tree/sub/two.txt" in listing and "big.bin" in listing
    assert "cli-b1" in aws("s3", "ls").stdout
    again = aws("s3", "sync", str(tree), "s3://cli-b1/tree").stdout
    assert again.strip() == ""  # nothing changed, nothing uploaded
    url = aws("s3", "presign", "s3://cli-b1/tree/one.txt", "--expires-in", "60").stdout.strip()
    curl = subprocess.run(["curl", "-sf", url], capture_output=True, timeout=30)
    assert curl.returncode == 0 and curl.stdout == b"one"
    aws("s3", "rm", "--recursive", "s3://cli-b1")
    aws("s3", "rb", "s3://cli-b1")
    assert "cli-b1" not in aws("s3", "ls").stdout


@pytest.mark.parametrize("signature", ["v2", "v4"])
def test_s3cmd(server, tmp_path, signature):
    cfg = tmp_path / "s3cfg"
    cfg.write_text(f"""[default]
access_key = {ALICE.access_key_id}
secret_key = {ALICE.secret_access_key}
host_base = 127.0.0.1:{server.port}
host_bucket = 127.0.0.1:{server.port}
use_https = False
signature_v2 = {signature == "v2"}
bucket_location = mallee
""")

    def s3cmd(*args):
        done = subprocess.run(["s3cmd", "-c", str(cfg), *args], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    bucket = f"s3cmd-{signature}"
    s3cmd("mb", f"s3://{bucket}")
    src = tmp_path / "file with space.txt"
    src.write_bytes(os.urandom(300_000))
    s3cmd("put", str(src), f"s3://{bucket}/dir/file with space.txt")
    assert "dir/file with space.txt" in s3cmd("ls", "-r", f"s3://{bucket}")
    assert bucket in s3cmd("ls")
    s3cmd("get", f"s3://{bucket}/dir/file with space.txt", str(tmp_path / "got.txt"))
    assert (tmp_path / "got.txt").read_bytes() == src.read_bytes()
    s3cmd("info", f"s3://{bucket}/dir/file with space.txt")
    s3cmd("del", f"s3://{bucket}/dir/file with space.txt")
    s3cmd("rb", f"s3://{bucket}")
