#!/usr/bin/python3
"""One worker process of a benchmark directory, written by Python's prometheus_client in
multiprocess mode (PROMETHEUS_MULTIPROC_DIR set by the caller). The write pattern is the one
benchmarks/harness/data.ts (`WritePattern`) computes the expected exposition from.

  write_python.py INDEX ROUTES HISTOGRAM_ROUTES QUEUES
"""
import sys

from prometheus_client import Counter, Gauge, Histogram

CODES = ['200', '201', '404', '500']
BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
# Dyadic observations: sums are exact in any order, so every reader must agree to the bit.
OBSERVATIONS = [2.0 ** e for e in range(-8, 4)]


def main(p, routes, histogram_routes, queues):
    requests = Counter('bench_requests_total', 'Requests handled.', ['route', 'code'])
    latency = Histogram('bench_latency_seconds', 'Request latency.', ['route'], buckets=BUCKETS)
    inflight = Gauge('bench_inflight', 'Requests in flight.', ['queue'], multiprocess_mode='livesum')
    oldest = Gauge('bench_queue_oldest_seconds', 'Age of the oldest job.', ['queue'], multiprocess_mode='max')
    for r in range(routes):
        for c, code in enumerate(CODES):
            i = r * len(CODES) + c
            requests.labels('r%03d' % r, code).inc(1 + (i + p) % 7)
    for j in range(histogram_routes):
        child = latency.labels('r%03d' % j)
        for k in range(3):
            child.observe(OBSERVATIONS[(j + p + k) % len(OBSERVATIONS)])
    for q in range(queues):
        inflight.labels('q%03d' % q).set((q * 31 + p) % 97)
        oldest.labels('q%03d' % q).set((q * 17 + p * 13) % 1009)


if __name__ == '__main__':
    main(*(int(a) for a in sys.argv[1:5]))
