#!/usr/bin/ruby
# The gem's own reader on a directory: Formats::Text.marshal_multiprocess (the C extension in
# Debian's 0.16.2), timed inside this process. Prints one JSON line {"times_s": [...], "bytes": N};
# writes the last exposition to OUT when given (for the correctness check).
#
#   read_ruby.rb DIR RUNS [OUT]
require 'json'
require 'prometheus/client'
require 'prometheus/client/formats/text'

dir, runs, out_path = ARGV[0], Integer(ARGV[1]), ARGV[2]
times = []
body = ''
runs.times do
  t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  body = Prometheus::Client::Formats::Text.marshal_multiprocess(dir)
  times << Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
end
File.binwrite(out_path, body) if out_path
puts JSON.generate(times_s: times, bytes: body.bytesize)
