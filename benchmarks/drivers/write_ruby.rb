#!/usr/bin/ruby
# One worker process of a benchmark directory, written by GitLab's prometheus-client-mmap
# (prometheus_multiproc_dir set by the caller). The write pattern is the one
# benchmarks/harness/data.ts (`WritePattern`) computes the expected exposition from.
#
#   write_ruby.rb INDEX ROUTES HISTOGRAM_ROUTES QUEUES
require 'prometheus/client'

CODES = %w[200 201 404 500].freeze
BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5].freeze
# Dyadic observations: sums are exact in any order, so every reader must agree to the bit.
OBSERVATIONS = (-8..3).map { |e| 2.0**e }.freeze

p_index, routes, histogram_routes, queues = ARGV.first(4).map { |a| Integer(a) }
registry = Prometheus::Client.registry
requests = registry.counter(:bench_requests_total, 'Requests handled.')
latency = registry.histogram(:bench_latency_seconds, 'Request latency.', {}, BUCKETS)
inflight = registry.gauge(:bench_inflight, 'Requests in flight.', {}, :livesum)
oldest = registry.gauge(:bench_queue_oldest_seconds, 'Age of the oldest job.', {}, :max)

routes.times do |r|
  CODES.each_with_index do |code, c|
    i = r * CODES.size + c
    requests.increment({ route: format('r%03d', r), code: code }, 1 + (i + p_index) % 7)
  end
end
histogram_routes.times do |j|
  3.times { |k| latency.observe({ route: format('r%03d', j) }, OBSERVATIONS[(j + p_index + k) % OBSERVATIONS.size]) }
end
queues.times do |q|
  inflight.set({ queue: format('q%03d', q) }, (q * 31 + p_index) % 97)
  oldest.set({ queue: format('q%03d', q) }, (q * 17 + p_index * 13) % 1009)
end

# `hold` (5th argument): stay alive, holding the files' locks as a live worker does, until stdin closes.
if ARGV[4] == 'hold'
  puts 'ready'
  $stdout.flush
  $stdin.read
end
