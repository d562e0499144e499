"""EC2 Query parsing against the stdlib's parse_qsl of the same body, one run.

    .venv/bin/python bench/query_parse.py [--filters 1000 8000 18000]

For each size: parse_qsl of the urlencoded body (the floor every request
pays), then query.parse into DescribeInstancesRequest (Filter.N.Name and two
values each), and their ratio. Linear parsing keeps the ratio flat as the
size grows; quadratic parsing (issue 11, defect 10) made it climb. Not a
timed test.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cloud_controller.api import query  # noqa: E402
from cloud_controller.api.instances import DescribeInstancesRequest  # noqa: E402


def body(filters: int) -> str:
    params = {"Action": "DescribeInstances", "Version": "2016-11-15"}
    for i in range(1, filters + 1):
        params.update({f"Filter.{i}.Name": "tag:role", f"Filter.{i}.Value.1": f"web-{i}",
                       f"Filter.{i}.Value.2": f"db-{i}"})
    return urlencode(params)


def best(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--filters", type=int, nargs="+", default=[1000, 8000, 18000])
    args = ap.parse_args()
    print(f"{'filters':>8} {'params':>7} {'bytes':>9} {'parse_qsl ms':>13} "
          f"{'query.parse ms':>15} {'ratio':>6}")
    for n in args.filters:
        text = body(n)
        flat = dict(parse_qsl(text))
        qsl = best(lambda: parse_qsl(text))
        ours = best(lambda: query.parse(DescribeInstancesRequest, flat))
        print(f"{n:>8} {len(flat):>7} {len(text):>9} {qsl * 1000:>13.1f} "
              f"{ours * 1000:>15.1f} {ours / qsl:>6.2f}")


if __name__ == "__main__":
    main()
