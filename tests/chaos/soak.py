"""`python -m tests.chaos.soak [--minutes 10] [--rate 200]`: the long run with periodic faults."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from tests.chaos.harness import ChaosConfig, run_chaos


def main() -> None:
    """Run the soak and print its account as JSON; exit 1 unless nothing was lost."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0, help="deliveries per second")
    parser.add_argument("--fault-every", type=float, default=60.0, help="seconds per fault round")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    seconds = args.minutes * 60
    config = ChaosConfig(
        duration_seconds=seconds,
        rate_per_second=args.rate,
        fault_rounds=max(1, int(seconds // args.fault_every)),
    )
    report = asyncio.run(run_chaos(config))
    sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    raise SystemExit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
