"""What the guest samples add to an NC's poll answers (issue 16: <= 0.5 KB/s per
node at 10 guests): the real sampler (node_controller/guest_metrics.py) over 10
FakeDriver guests on a simulated clock, polled by the CC's ack scheme every
[cc] poll_seconds, each answer's "metrics" member encoded as the RPC layer does
(aiohttp's json_response: json.dumps). Bytes per node per second, for a few
sampling intervals; no network, no sleeping.

    PYTHONPATH=. python bench/metrics_bytes.py [--guests 10] [--poll 6] [--hours 1]
"""
from __future__ import annotations

import argparse
import asyncio
import json
from types import SimpleNamespace

from cluster_controller.metrics_relay import MetricsRelay
from node_controller.guest_metrics import GuestSampler
from node_controller.hypervisor.domain import DomainSpec
from node_controller.hypervisor.fake import FakeDriver


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


async def measure(guests: int, interval: float, poll: float, seconds: float) -> dict:
    clock = Clock()
    driver = FakeDriver(guest_load=0.37, clock=clock)
    names = [f"i-{n:08x}" for n in range(guests)]
    for n, name in enumerate(names):
        driver.define(DomainSpec(name=name, uuid=f"00000000-0000-0000-0000-{n:012x}",
                                 vcpus=2, memory_mb=512))
        driver.start(name)
    sampler = GuestSampler(driver, lambda: names, interval, 60, clock=clock,
                           wall=lambda: 1_764_000_000 + clock.now)
    relay, node = MetricsRelay(20000), SimpleNamespace(metrics_ack=None)
    total = polls = 0
    next_sample = next_poll = 0.0
    while clock.now < seconds:
        if next_sample <= next_poll:
            clock.now = next_sample
            await sampler.sample()
            next_sample += interval
        else:
            clock.now = next_poll
            batch = sampler.report(node.metrics_ack)
            total += len(json.dumps({"metrics": batch})) - len(json.dumps({"metrics": None}))
            relay.take(node, batch)
            polls += 1
            next_poll += poll
    return {"interval": interval, "bytes_per_s": total / seconds, "polls": polls,
            "per_poll": total / polls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, default=10)
    parser.add_argument("--poll", type=float, default=6.0)
    parser.add_argument("--hours", type=float, default=1.0)
    args = parser.parse_args()
    print(f"{args.guests} guests, a poll every {args.poll:g} s, {args.hours:g} h simulated")
    print(f"{'metrics_seconds':>16} {'bytes/s per node':>17} {'bytes per poll':>15}")
    for interval in (60, 30, 10, 5):
        r = asyncio.run(measure(args.guests, interval, args.poll, args.hours * 3600))
        print(f"{r['interval']:>16g} {r['bytes_per_s']:>17.1f} {r['per_poll']:>15.1f}")


if __name__ == "__main__":
    main()
