#!/usr/bin/python3
"""Python's own reader on a directory: MultiProcessCollector + generate_latest, timed inside
this process. Prints one JSON line: {"times_s": [...], "bytes": N}; writes the last exposition
to OUT when given (for the correctness check).

  read_python.py DIR RUNS [OUT]
"""
import json
import sys
import time

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector


def main(path, runs, out_path=None):
    times = []
    body = b''
    for _ in range(runs):
        t0 = time.perf_counter()
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)
        body = generate_latest(registry)
        times.append(time.perf_counter() - t0)
    if out_path:
        with open(out_path, 'wb') as f:
            f.write(body)
    print(json.dumps({'times_s': times, 'bytes': len(body)}))


if __name__ == '__main__':
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
