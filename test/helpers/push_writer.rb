#!/usr/bin/ruby
# A live Ruby worker for the push tests (prometheus-client-mmap; the caller sets
# prometheus_multiproc_dir). Writes round 1 at start, one more round per line on stdin, and prints
# "round N" after each; exits when stdin closes. test/system/push-writers.ts computes the values.
#
#   push_writer.rb INDEX
require 'prometheus/client'

i = Integer(ARGV[0])
Prometheus::Client.configuration.pid_provider = -> { "rb_#{i}" }
registry = Prometheus::Client.registry
jobs = registry.counter(:rb_jobs_total, 'Jobs done.')
inflight = registry.gauge(:rb_inflight, 'In flight.', {}, :livesum)
peak = registry.gauge(:rb_peak, 'Peak.', {}, :max)
started = registry.gauge(:rb_started, 'Start marker.', {}, :all)
latency = registry.histogram(:rb_latency_seconds, 'Latency.', {}, [0.125, 1])

write = lambda do |r|
  jobs.increment({ queue: 'a' }, 1 + i)
  jobs.increment({ queue: 'b' }, 0.5)
  inflight.set({ queue: 'a' }, 10 * (i + 1) + r)
  peak.set({}, 100 * (i + 1) * r)
  started.set({}, 1000 + i)
  latency.observe({ route: '/x' }, 0.0625)
  latency.observe({ route: '/x' }, 0.5 * (i + 1))
end

r = 1
write.call(r)
puts "round #{r}"
$stdout.flush
$stdin.each_line do
  r += 1
  write.call(r)
  puts "round #{r}"
  $stdout.flush
end
