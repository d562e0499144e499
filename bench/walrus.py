"""Walrus against moto_server, dd and the host's MD5 rate, in one run on the same disk.

    .venv/bin/python bench/walrus.py [--big-gib 5] [--small 3000] [--versions 100000]

Measures 64 MiB PUT/GET throughput, 4 KiB PUT/GET requests per second and p99
latency with 16 concurrent clients (an asyncio + aiohttp client in its own
process, signing SigV4 with UNSIGNED-PAYLOAD; curl for the large transfers), `dd conv=fdatasync` for the
disk's own write rate, and this host's single-core MD5 rate (hashlib over
--md5-mib MiB in memory, 1 MiB at a time): a PUT must compute its body's MD5
(the ETag) in order, so that rate is the most one PUT can reach. The same
64 MiB and 4 KiB PUTs are repeated on a versioned bucket (compared with the
unversioned ones). Walrus, versioned Walrus, moto and the MD5 rate are measured
in two turns and their medians printed: the host's load drifts within a run.
ListObjectVersions over --versions versions
(--versions-per-key of each key, made by real PUTs from 64 clients) is timed
per 1,000-entry page against ListObjectsV2 per page over the same bucket.
Walrus's peak RSS while a large object goes up and comes down; and listing a
bucket of --listing keys (100 "directories"): the delimiter listing of the
root, one directory, and every key in 1,000-key pages. Prints one table with
ratios. Not a timed test. The host is shared: compare ratios from one run.

    .venv/bin/python bench/walrus.py --listing-only --listing 20000

`--small-only` measures only the 4 KiB PUTs and GETs (Walrus, versioned Walrus and
moto in two turns, medians), e.g. for A/B runs of small-object changes.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import aiohttp
import xmltodict
from yarl import URL

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mallee import pki, settings as mallee_settings  # noqa: E402
from mallee.auth import sigv4  # noqa: E402
from mallee.rpc import RpcClient, client_ssl_context  # noqa: E402
from tests.harness import free_port  # noqa: E402

KEY, SECRET = "AKIABENCH00000000000", "bench-secret-0000000000000000000000000000"
MIB = 1024 * 1024
BIG = 64 * MIB
SMALL = 4096
CONCURRENCY = 16
FILL_CONCURRENCY = 64


def sign(method: str, url: str) -> dict:
    parts = urlsplit(url)
    amz_date = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    headers = {"host": parts.netloc, "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
               "x-amz-date": amz_date}
    names = tuple(sorted(headers))
    query = sigv4.canonical_query(parse_qsl(parts.query, keep_blank_values=True))
    canonical = "\n".join([method, parts.path, query, sigv4.canonical_headers(headers, names),
                           ";".join(names), "UNSIGNED-PAYLOAD"])
    scope = sigv4.Scope(KEY, amz_date[:8], "us-east-1", "s3")  # moto insists; Walrus takes any
    to_sign = "\n".join([sigv4.ALGORITHM, amz_date, scope.text,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    signature = sigv4.sign(sigv4.signing_key(SECRET, scope), to_sign)
    headers["Authorization"] = (f"{sigv4.ALGORITHM} Credential={KEY}/{scope.text}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    del headers["host"]
    return headers


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def start_walrus(home: Path, rpc_port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Walrus as a process of its own, with the bench's credential (bench/ebs.py names
    the RPC port, which its SC reaches)."""
    pki.init_pki(home / "pki")
    port, rpc_port = free_port(), rpc_port or free_port()
    env = {**os.environ, "MALLEE_HOME": str(home), "MALLEE_WALRUS_PORT": str(port),
           "MALLEE_WALRUS_RPC_PORT": str(rpc_port), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "walrus"], env=env, cwd=ROOT)
    wait_port(port)
    wait_port(rpc_port)
    config = mallee_settings.load(home, env)

    async def push():
        client = RpcClient("127.0.0.1", rpc_port, client_ssl_context(config.pki_dir, "clc"),
                           role="walrus")
        try:
            await client.call("sync_credentials", generation=1, credentials=[{
                "access_key_id": KEY, "secret_access_key": SECRET, "account_id": "123456789012",
                "account_name": "bench", "user_id": "AIDABENCH", "user_name": "admin",
                "is_admin": False, "active": True}])
        finally:
            await client.close()
    asyncio.run(push())
    return proc, f"http://127.0.0.1:{port}"


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(moto), "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, f"http://127.0.0.1:{port}"


async def _request(session, method, url, data=None, headers=None) -> bytes | int:
    async with session.request(method, URL(url, encoded=True), data=data,
                               headers={**sign(method, url), **(headers or {})}) as resp:
        if resp.status >= 300:
            raise RuntimeError(f"{method} {url}: {resp.status} {await resp.text()}")
        if method == "GET":
            total = 0
            async for chunk in resp.content.iter_chunked(1 << 20):
                total += len(chunk)
            return total
        return resp.status


def curl(method: str, url: str, upload: str | None = None, stdin=None,
         headers: dict | None = None) -> float:
    """One transfer with curl (a C client, so the client is not the bottleneck); seconds."""
    args = ["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{time_total}", "-X", method]
    if upload:
        args += ["-T", upload]
    for name, value in {**sign(method, url), **(headers or {})}.items():
        args += ["-H", f"{name}: {value}"]
    done = subprocess.run(args + [url], capture_output=True, text=True, stdin=stdin, check=True)
    return float(done.stdout)


def large(endpoint: str, bucket: str, source: Path, repeats: int = 5,
          first: int = 0) -> tuple[list[float], list[float]]:
    """MiB/s of `repeats` 64 MiB PUTs and GETs (keys large-<first>...)."""
    put_rates, get_rates = [], []
    for i in range(first, first + repeats):
        url = f"{endpoint}/{bucket}/large-{i}"
        put_rates.append(BIG / MIB / curl("PUT", url, str(source)))
        get_rates.append(BIG / MIB / curl("GET", url))
    return put_rates, get_rates


def _rows() -> dict:
    return {"put64": [], "get64": [], "put4k": [], "put4k_p99": [], "get4k": [],
            "get4k_p99": []}


def _add(row: dict, put: list[float], get: list[float], s: dict) -> None:
    row["put64"] += put
    row["get64"] += get
    for op, method in (("put4k", "PUT"), ("get4k", "GET")):
        row[op].append(s[method][0])
        row[op + "_p99"].append(s[method][1])


def _median(row: dict) -> dict:
    return {k: statistics.median(v) for k, v in row.items()}


SSE_S3 = {"x-amz-server-side-encryption": "AES256"}


def sse_large(endpoint: str, bucket: str, source: Path, repeats: int = 5) -> dict:
    """64 MiB PUT and GET, SSE-S3 (x-amz-server-side-encryption: AES256) and plain in
    turns, so both meet the same disk and page cache; medians in MiB/s."""
    rates: dict[str, list[float]] = {"put": [], "get": [], "sse_put": [], "sse_get": []}
    for i in range(repeats):
        for kind, extra in (("", None), ("sse_", SSE_S3)):
            url = f"{endpoint}/{bucket}/{kind}large-{i}"
            rates[kind + "put"].append(BIG / MIB / curl("PUT", url, str(source), headers=extra))
            rates[kind + "get"].append(BIG / MIB / curl("GET", url))
    return {k: sorted(v)[repeats // 2] for k, v in rates.items()}


def sse_huge(endpoint: str, bucket: str, gib: float, pid: int) -> dict:
    """The memory-flatness round trip again with SSE-S3: its seconds and Walrus's peak
    RSS since start (so at least the plain round trip's peak)."""
    seconds = huge_roundtrip(endpoint, bucket, gib, SSE_S3, key="huge-sse") if gib else 0.0
    return {"huge_seconds": seconds, "huge_peak": peak_rss_mib(pid)}


def print_sse(r: dict, gib: float) -> None:
    for op in ("put", "get"):
        print(f"{f'64 MiB {op.upper()} SSE-S3 MiB/s':34} {r['sse_' + op]:10.0f} "
              f"{f'plain {r[op]:.0f}':>21}  {r['sse_' + op] / r[op]:.2f}x plain "
              f"(target >= 0.75)")
    if gib:
        print(f"{f'{gib:g} GiB SSE-S3 up+down: peak RSS MiB':34} {r['huge_peak']:10.0f} "
              f"({r['huge_seconds']:.0f} s)")


async def small(endpoint: str, bucket: str, count: int) -> dict:
    data = os.urandom(SMALL)
    results = {}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        for method in ("PUT", "GET"):
            latencies: list[float] = []
            queue = iter(range(count))

            async def worker():
                for i in queue:
                    url = f"{endpoint}/{bucket}/small-{i % 1000}"
                    t = time.perf_counter()
                    await _request(session, method, url, data if method == "PUT" else None)
                    latencies.append(time.perf_counter() - t)
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            elapsed = time.perf_counter() - started
            latencies.sort()
            results[method] = (count / elapsed, latencies[int(len(latencies) * 0.99) - 1] * 1000)
    return results


def listing_keys(count: int) -> list[str]:
    return [f"dir{i % 100:03d}/key{i:06d}" for i in range(count)]


async def fill_for_listing(endpoint: str, bucket: str, count: int) -> None:
    keys = iter(listing_keys(count))
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker():
            for key in keys:
                await _request(session, "PUT", f"{endpoint}/{bucket}/{key}", b"x")
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def _list(session, endpoint: str, bucket: str, **params) -> dict:
    query = urlencode({"list-type": "2", **params}, quote_via=quote, safe="")
    async with session.get(URL(f"{endpoint}/{bucket}?{query}", encoded=True),
                           headers=sign("GET", f"{endpoint}/{bucket}?{query}")) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"list {params}: {resp.status} {body[:300]!r}")
    return xmltodict.parse(body)["ListBucketResult"]


def _as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


async def listing(endpoint: str, bucket: str, count: int, repeats: int = 3) -> dict:
    """Seconds (best of `repeats`) for: the root with a delimiter, one directory, all keys;
    each result checked, so a fast wrong answer cannot win."""
    best: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        for _ in range(repeats):
            t = time.perf_counter()
            root = await _list(session, endpoint, bucket, delimiter="/")
            took = {"root": time.perf_counter() - t}
            assert len(_as_list(root.get("CommonPrefixes"))) == min(count, 100), root
            t = time.perf_counter()
            one = await _list(session, endpoint, bucket, prefix="dir007/")
            took["dir"] = time.perf_counter() - t
            assert len(_as_list(one.get("Contents"))) == len(
                [k for k in listing_keys(count) if k.startswith("dir007/")])
            t, seen, token = time.perf_counter(), 0, None
            while True:
                page = await _list(session, endpoint, bucket,
                                   **({"continuation-token": token} if token else {}))
                seen += len(_as_list(page.get("Contents")))
                if page.get("IsTruncated") != "true":
                    break
                token = page["NextContinuationToken"]
            took["all"] = time.perf_counter() - t
            assert seen == count, (seen, count)
            for name, seconds in took.items():
                best[name] = min(best.get(name, seconds), seconds)
    return best


async def make_bucket(endpoint: str, bucket: str, versioned: bool = False) -> None:
    async with aiohttp.ClientSession() as session:
        await _request(session, "PUT", f"{endpoint}/{bucket}")
        if versioned:
            await _request(session, "PUT", f"{endpoint}/{bucket}?versioning",
                           b"<VersioningConfiguration><Status>Enabled</Status>"
                           b"</VersioningConfiguration>")


async def fill_versions(endpoint: str, bucket: str, count: int, per_key: int) -> None:
    """`count` versions, `per_key` of each key, by real PUTs from FILL_CONCURRENCY clients
    (so their commits group); every key's versions are written in turn."""
    puts = iter(range(count))
    connector = aiohttp.TCPConnector(limit=FILL_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker():
            for i in puts:
                key = f"v{(i % (count // per_key)):06d}"
                await _request(session, "PUT", f"{endpoint}/{bucket}/{key}", b"x")
        await asyncio.gather(*(worker() for _ in range(FILL_CONCURRENCY)))


def _element(body: bytes, tag: str) -> str | None:
    found = re.search(rb"<%s>([^<]*)</%s>" % (tag.encode(), tag.encode()), body)
    return found[1].decode() if found else None


async def walk_pages(endpoint: str, bucket: str, versions: bool) -> tuple[int, int, float]:
    """Every entry of the bucket, 1,000 a page: (entries, pages, seconds). Pages are
    read with a few regular expressions (the bench's keys need no unescaping), so the
    time is Walrus's, not a client XML parser's, which would charge the larger
    version entries twice."""
    seen = pages = 0
    params: dict = {}
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        while True:
            query = urlencode({"versions": ""} if versions else {"list-type": "2"}, safe="")
            if params:
                query += "&" + urlencode(params, quote_via=quote, safe="")
            url = f"{endpoint}/{bucket}?{query}"
            async with session.get(URL(url, encoded=True), headers=sign("GET", url)) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"list {params}: {resp.status} {body[:300]!r}")
            pages += 1
            seen += sum(body.count(b"<%s>" % t) for t in (
                (b"Version", b"DeleteMarker") if versions else (b"Contents",)))
            if _element(body, "IsTruncated") != "true":
                break
            params = ({"key-marker": _element(body, "NextKeyMarker"),
                       "version-id-marker": _element(body, "NextVersionIdMarker")}
                      if versions else
                      {"continuation-token": _element(body, "NextContinuationToken")})
        return seen, pages, time.perf_counter() - started


def version_listing(endpoint: str, count: int, per_key: int) -> dict:
    """ms per 1,000-entry page: ListObjectVersions over `count` versions against
    ListObjectsV2 over the same bucket's count/per_key current objects (best of 3)."""
    asyncio.run(make_bucket(endpoint, "versions", versioned=True))
    asyncio.run(fill_versions(endpoint, "versions", count, per_key))
    best = {}
    for _ in range(3):
        for name, versions, expected in (("versions", True, count),
                                         ("v2", False, count // per_key)):
            seen, pages, seconds = asyncio.run(walk_pages(endpoint, "versions", versions))
            assert seen == expected, (name, seen, expected)
            best[name] = min(best.get(name, seconds * 1000 / pages), seconds * 1000 / pages)
    return best


def md5_rate(mib: int) -> float:
    """This host's single-core MD5 rate (MiB/s, best of 3) over `mib` MiB in memory, fed
    in 1 MiB pieces as a PUT's body is: the most one PUT can do, since its ETag is the
    MD5 of every byte, in order."""
    data = memoryview(os.urandom(mib * MIB))
    best = 0.0
    for _ in range(3):
        md5 = hashlib.md5()
        started = time.perf_counter()
        for offset in range(0, len(data), MIB):
            md5.update(data[offset:offset + MIB])
        best = max(best, mib / (time.perf_counter() - started))
    return best


def dd_rate(directory: Path) -> tuple[float, float]:
    target = directory / "dd.bin"
    out = subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=1M", "count=64",
                          "conv=fdatasync"], capture_output=True, text=True).stderr
    write = _dd_mbps(out)
    out = subprocess.run(["dd", f"if={target}", "of=/dev/null", "bs=1M"],
                         capture_output=True, text=True).stderr
    target.unlink()
    return write, _dd_mbps(out)


def _dd_mbps(stderr: str) -> float:
    m = re.search(r"(\d+) bytes .* copied, ([\d.]+) s", stderr)
    return int(m[1]) / MIB / float(m[2])


def peak_rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text)[1]) / 1024


def current_rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text)[1]) / 1024


def huge_roundtrip(endpoint: str, bucket: str, gib: float, headers: dict | None = None,
                   key: str = "huge") -> float:
    """Stream `gib` GiB of zeros up (chunked, from a pipe) and back down."""
    size = int(gib * 1024 * MIB)
    url = f"{endpoint}/{bucket}/{key}"
    zeros = subprocess.Popen(["head", "-c", str(size), "/dev/zero"], stdout=subprocess.PIPE)
    seconds = curl("PUT", url, "-", stdin=zeros.stdout, headers=headers)
    zeros.wait()
    return seconds + curl("GET", url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=3000, help="requests per small-object run")
    parser.add_argument("--big-gib", type=float, default=5.0,
                        help="size of the memory-flatness object (0 to skip)")
    parser.add_argument("--listing", type=int, default=10000,
                        help="keys in the listing bucket (0 to skip)")
    parser.add_argument("--listing-only", action="store_true",
                        help="measure only the listing (no transfers, no dd)")
    parser.add_argument("--versions", type=int, default=100000,
                        help="versions in the ListObjectVersions bucket (0 to skip)")
    parser.add_argument("--versions-per-key", type=int, default=4,
                        help="versions of each key in that bucket")
    parser.add_argument("--md5-mib", type=int, default=256,
                        help="MiB hashed to measure the host's single-core MD5 rate")
    parser.add_argument("--small-only", action="store_true",
                        help="measure only the 4 KiB PUTs and GETs (Walrus, versioned, moto)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="walrus-bench-", dir=ROOT / "bench"))
    procs = []
    try:
        walrus_proc, walrus_url = start_walrus(work / "home")
        procs.append(walrus_proc)
        moto_proc, moto_url = start_moto()
        procs.append(moto_proc)
        lists = {}
        for name, url in (("walrus", walrus_url), ("moto", moto_url)) \
                if args.listing and not args.small_only else ():
            asyncio.run(make_bucket(url, "listing"))
            asyncio.run(fill_for_listing(url, "listing", args.listing))
            lists[name] = asyncio.run(listing(url, "listing", args.listing))
        if args.listing_only:
            print_listing(lists, args.listing)
            return
        if args.small_only:
            print_small(small_turns(walrus_url, moto_url, args.small))
            return
        md5s = [md5_rate(args.md5_mib)]
        source = work / "source.bin"
        source.write_bytes(os.urandom(BIG))
        for name, url, versioned in (("walrus", walrus_url, False), ("moto", moto_url, False),
                                     ("versioned", walrus_url, True)):
            asyncio.run(make_bucket(url, "bench-versioned" if versioned else "bench", versioned))
        # In turns: Walrus unversioned and versioned, moto, the MD5 rate (the host's
        # load drifts within a run, and each is compared with the others).
        rows = {"walrus": _rows(), "versioned": _rows(), "moto": _rows()}
        for turn in range(2):
            for name, url, bucket in (("walrus", walrus_url, "bench"),
                                      ("versioned", walrus_url, "bench-versioned"),
                                      ("moto", moto_url, "bench")):
                put, get = large(url, bucket, source, repeats=3, first=3 * turn)
                _add(rows[name], put, get, asyncio.run(small(url, bucket, args.small // 2)))
            md5s.append(md5_rate(args.md5_mib))
        rows = {name: _median(r) for name, r in rows.items()}
        md5 = statistics.median(md5s)
        sse_rows = sse_large(walrus_url, "bench", source)
        dd_write, dd_read = dd_rate(work)
        versions = (version_listing(walrus_url, args.versions, args.versions_per_key)
                    if args.versions else None)
        base_rss = current_rss_mib(walrus_proc.pid)
        huge_seconds = huge_roundtrip(walrus_url, "bench", args.big_gib) if args.big_gib else 0.0
        peak = peak_rss_mib(walrus_proc.pid)
        sse_rows.update(sse_huge(walrus_url, "bench", args.big_gib, walrus_proc.pid))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)

    w, m, v = rows["walrus"], rows["moto"], rows["versioned"]
    print(f"{'measure':44} {'walrus':>10} {'moto':>10} {'dd':>10} {'md5':>10}  ratio")
    print(f"{'64 MiB PUT MiB/s':44} {w['put64']:10.0f} {m['put64']:10.0f} {dd_write:10.0f} "
          f"{md5:10.0f}  {w['put64'] / md5:.2f}x md5 (target >= 0.80), "
          f"{w['put64'] / dd_write:.2f}x dd, {w['put64'] / m['put64']:.2f}x moto")
    print(f"{'64 MiB GET MiB/s':44} {w['get64']:10.0f} {m['get64']:10.0f} {dd_read:10.0f} "
          f"{'':>10}  {w['get64'] / m['get64']:.2f}x moto (target >= 1.5)")
    for op in ("put4k", "get4k"):
        print(f"{op[:3].upper() + ' 4 KiB req/s (16 clients)':44} {w[op]:10.0f} {m[op]:10.0f} "
              f"{'':>10} {'':>10}  {w[op] / m[op]:.2f}x moto (target >= 3)")
        print(f"{op[:3].upper() + ' 4 KiB p99 ms':44} {w[op + '_p99']:10.1f} "
              f"{m[op + '_p99']:10.1f} {'':>10} {'':>10}  target < 50 ms")
    for op, label in (("put64", "64 MiB PUT MiB/s"), ("put4k", "PUT 4 KiB req/s (16 clients)")):
        print(f"{'versioned ' + label:44} {v[op]:10.0f} {'':>10} {'':>10} {'':>10}  "
              f"{v[op] / w[op]:.2f}x unversioned (target >= 0.90)")
    print(f"{'versioned PUT 4 KiB p99 ms':44} {v['put4k_p99']:10.1f} {'':>10} {'':>10} "
          f"{'':>10}  target < 50 ms")
    if versions:
        print(f"{f'ListObjectVersions ms/page ({args.versions} versions)':44} "
              f"{versions['versions']:10.1f} {'':>10} {'':>10} {'':>10}  "
              f"{versions['v2'] / versions['versions']:.2f}x ListObjectsV2's speed "
              f"(target >= 1.0)")
        print(f"{f'ListObjectsV2 ms/page, same bucket':44} {versions['v2']:10.1f}")
    if args.big_gib:
        print(f"{f'{args.big_gib:g} GiB up+down: walrus RSS MiB':44} {base_rss:10.0f} -> "
              f"{peak:.0f} peak ({huge_seconds:.0f} s)")
    print_sse(sse_rows, args.big_gib)
    print("(dd: write with conv=fdatasync; its GET column is a cached read of that file;"
          " md5: hashlib over in-memory data, one core)")
    print_listing(lists, args.listing)


def small_turns(walrus_url: str, moto_url: str, count: int, turns: int = 2) -> dict:
    """Only the 4 KiB rows: Walrus, versioned Walrus and moto in turns, medians."""
    rows = {"walrus": _rows(), "versioned": _rows(), "moto": _rows()}
    for name, url, versioned in (("walrus", walrus_url, False), ("moto", moto_url, False),
                                 ("versioned", walrus_url, True)):
        asyncio.run(make_bucket(url, "bench-versioned" if versioned else "bench", versioned))
    for _ in range(turns):
        for name, url, bucket in (("walrus", walrus_url, "bench"),
                                  ("versioned", walrus_url, "bench-versioned"),
                                  ("moto", moto_url, "bench")):
            _add(rows[name], [], [], asyncio.run(small(url, bucket, count // 2)))
    return {name: {k: statistics.median(v) for k, v in r.items() if v}
            for name, r in rows.items()}


def print_small(rows: dict) -> None:
    w, m, v = rows["walrus"], rows["moto"], rows["versioned"]
    print(f"{'measure':44} {'walrus':>10} {'moto':>10}  ratio")
    for op in ("put4k", "get4k"):
        print(f"{op[:3].upper() + ' 4 KiB req/s (16 clients)':44} {w[op]:10.0f} {m[op]:10.0f}"
              f"  {w[op] / m[op]:.2f}x moto (target >= 3)")
        print(f"{op[:3].upper() + ' 4 KiB p99 ms':44} {w[op + '_p99']:10.1f} "
              f"{m[op + '_p99']:10.1f}  target < 50 ms")
    print(f"{'versioned PUT 4 KiB req/s (16 clients)':44} {v['put4k']:10.0f} {'':>10}  "
          f"{v['put4k'] / w['put4k']:.2f}x unversioned (target >= 0.90)")
    print(f"{'versioned PUT 4 KiB p99 ms':44} {v['put4k_p99']:10.1f}")


def print_listing(lists: dict, count: int) -> None:
    if not lists:
        return
    w, m = lists["walrus"], lists["moto"]
    for name, label in (("root", "root, delimiter / (100 prefixes)"),
                        ("dir", "one directory (prefix)"),
                        ("all", "all keys, 1,000 a page")):
        print(f"{f'list {count} keys: {label} ms':54} {w[name] * 1000:10.1f} "
              f"{m[name] * 1000:10.1f}  {m[name] / w[name]:.2f}x moto's speed")


if __name__ == "__main__":
    main()
