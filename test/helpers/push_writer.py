#!/usr/bin/python3
"""A live Python worker for the push tests (prometheus_client, multiprocess mode: the caller sets
PROMETHEUS_MULTIPROC_DIR). Writes round 1 at start, one more round per line on stdin, and prints
"round N" after each; exits when stdin closes. test/system/push-writers.ts computes the values.

  push_writer.py INDEX
"""
import sys

from prometheus_client import Counter, Gauge, Histogram

i = int(sys.argv[1])
jobs = Counter('py_jobs_total', 'Jobs done.', ['queue'])
inflight = Gauge('py_inflight', 'In flight.', ['queue'], multiprocess_mode='livesum')
peak = Gauge('py_peak', 'Peak.', multiprocess_mode='max')
started = Gauge('py_started', 'Start marker.', multiprocess_mode='all')
latency = Histogram('py_latency_seconds', 'Latency.', ['route'], buckets=[0.125, 1])


def write(r):
    jobs.labels('a').inc(1 + i)
    jobs.labels('b').inc(0.5)
    inflight.labels('a').set(10 * (i + 1) + r)
    peak.set(100 * (i + 1) * r)
    started.set(1000 + i)
    latency.labels('/x').observe(0.0625)
    latency.labels('/x').observe(0.5 * (i + 1))


r = 1
write(r)
print('round %d' % r, flush=True)
for _ in sys.stdin:
    r += 1
    write(r)
    print('round %d' % r, flush=True)
