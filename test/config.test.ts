/** The option table: precedence flag > env > default, and every bad value named with its source. */
import { Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_PORT, formatListenAddress, OPTIONS, optionHelp, parseListenAddress, resolveConfig } from '../src/config.js';

const base = { dir: '/m' };

describe('resolveConfig', () => {
  it('applies the documented defaults', () => {
    expect(resolveConfig(base, {})).toEqual({
      dir: '/m',
      listen: { host: undefined, port: DEFAULT_PORT },
      telemetryPath: '/metrics',
      webConfigFile: undefined,
      tlsCertFile: undefined,
      tlsKeyFile: undefined,
      healthListen: undefined,
      labels: [],
      logLevel: 'info',
      logFormat: 'json',
      logFile: undefined,
      liveness: 'auto',
      readinessMinWorkers: 0,
      readinessMaxHeartbeatAgeSeconds: 30,
      compaction: false,
      compactionIntervalMs: 60_000,
      maxRequests: 40,
      headerTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      workerProcess: 'auto',
      metricsListener: true,
      push: null,
    });
  });

  it('reads --collector.worker-process auto, on or off, and names a bad value', () => {
    expect(['auto', 'on', 'off'].map((v) => resolveConfig({ ...base, 'collector.workerProcess': v }, {}).workerProcess)).toEqual(['auto', 'on', 'off']);
    expect(() => resolveConfig({ ...base, 'collector.workerProcess': 'yes' }, {})).toThrow(new ConfigError('--collector.worker-process "yes": must be one of auto, on, off'));
  });

  it('parses the lifecycle options and names the option of a bad value', () => {
    const c = resolveConfig({ ...base, liveness: 'pid', 'readiness.minWorkers': '3', 'readiness.maxHeartbeatAge': '1500ms', compaction: true, 'compaction.interval': '2m' }, {});
    expect([c.liveness, c.readinessMinWorkers, c.readinessMaxHeartbeatAgeSeconds, c.compaction, c.compactionIntervalMs]).toEqual(['pid', 3, 1.5, true, 120_000]);
    expect(() => resolveConfig({ ...base, liveness: 'sometimes' }, {})).toThrow('--liveness "sometimes": must be one of auto, lock, pid, off');
    expect(() => resolveConfig({ ...base, 'readiness.minWorkers': '-1' }, {})).toThrow('--readiness.min-workers "-1": must be a whole number');
    expect(() => resolveConfig({ ...base, 'readiness.maxHeartbeatAge': '30' }, {})).toThrow('--readiness.max-heartbeat-age "30": expected a duration from 1ms to 24h such as 500ms, 10s, 1m or 1h');
    expect(() => resolveConfig({ ...base, 'compaction.interval': '0s' }, {})).toThrow('--compaction.interval "0s"');
    expect(() => resolveConfig({ ...base, 'compaction.interval': '999ms' }, {})).toThrow(
      new ConfigError('--compaction.interval "999ms": at least 1s (every run scans the directory; compacting more often only burns CPU)'),
    );
    expect(resolveConfig({ ...base, 'compaction.interval': '1000ms' }, {}).compactionIntervalMs).toBe(1_000);
  });

  it('reads --web.max-requests and the timeouts, and rejects bad values with the option named', () => {
    expect(resolveConfig({ ...base, 'web.maxRequests': '0', 'web.headerTimeout': '500ms', 'web.requestTimeout': '2s' }, {})).toMatchObject({
      maxRequests: 0,
      headerTimeoutMs: 500,
      requestTimeoutMs: 2_000,
    });
    expect(resolveConfig({ ...base, 'web.requestTimeout': '1m' }, {}).requestTimeoutMs).toBe(60_000);
    expect(() => resolveConfig({ ...base, 'web.maxRequests': '-1' }, {})).toThrow(new ConfigError('--web.max-requests "-1": must be a whole number (0 = no limit)'));
    expect(() => resolveConfig({ ...base, 'web.headerTimeout': '10' }, {})).toThrow(
      new ConfigError('--web.header-timeout "10": expected a duration from 1ms to 24h such as 500ms, 10s, 1m or 1h'),
    );
    expect(() => resolveConfig({ ...base, 'web.headerTimeout': '0s' }, {})).toThrow(ConfigError);
    expect(() => resolveConfig({ ...base, 'web.headerTimeout': '20s', 'web.requestTimeout': '10s' }, {})).toThrow(
      new ConfigError('--web.request-timeout 10000 ms is shorter than --web.header-timeout 20000 ms: the request includes its headers'),
    );
  });

  it('takes the directory from the first env var set, in the documented order; the flag wins', () => {
    const all = { PROMETHEUS_MULTIPROC_DIR: '/a', prometheus_multiproc_dir: '/b', GME_MMAP_METRICS_DIR: '/c' };
    expect(resolveConfig({}, all).dir).toBe('/a');
    expect(resolveConfig({}, { ...all, PROMETHEUS_MULTIPROC_DIR: undefined }).dir).toBe('/b');
    expect(resolveConfig({}, { GME_MMAP_METRICS_DIR: '/c' }).dir).toBe('/c');
    expect(resolveConfig({ dir: '/flag' }, all).dir).toBe('/flag');
  });

  it('needs a directory', () => {
    expect(() => resolveConfig({}, {})).toThrow(
      new ConfigError('no metrics directory: give --dir or set PROMETHEUS_MULTIPROC_DIR / prometheus_multiproc_dir / GME_MMAP_METRICS_DIR'),
    );
  });

  it('builds the listen address from GME_SERVER_HOST and GME_SERVER_PORT; the flag wins', () => {
    expect(resolveConfig(base, { GME_SERVER_HOST: '127.0.0.1', GME_SERVER_PORT: '8083' }).listen).toEqual({ host: '127.0.0.1', port: 8083 });
    expect(resolveConfig(base, { GME_SERVER_PORT: '8083' }).listen).toEqual({ host: undefined, port: 8083 });
    expect(resolveConfig(base, { GME_SERVER_HOST: 'localhost' }).listen).toEqual({ host: 'localhost', port: DEFAULT_PORT });
    expect(resolveConfig({ ...base, 'web.listenAddress': '[::1]:9' }, { GME_SERVER_PORT: '8083' }).listen).toEqual({ host: '::1', port: 9 });
  });

  it.each([
    ['nope', '--web.listen-address "nope": expected host:port, :port or [ipv6]:port'],
    [':99999', '--web.listen-address ":99999": port must be 0..65535'],
    ['[zz]:1', '--web.listen-address "[zz]:1": expected host:port, :port or [ipv6]:port'],
    ['[1.2.3.4]:1', '--web.listen-address "[1.2.3.4]:1": 1.2.3.4 is not an IPv6 address'],
    ['bad_host:1', '--web.listen-address "bad_host": not an IP address or host name'],
  ])('rejects listen address %s', (value, message) => {
    expect(() => resolveConfig({ ...base, 'web.listenAddress': value }, {})).toThrow(new ConfigError(message));
  });

  it('rejects a bad GME_SERVER_PORT naming the variable', () => {
    expect(() => resolveConfig(base, { GME_SERVER_PORT: 'http' })).toThrow(new ConfigError('env GME_SERVER_PORT "http": port must be 0..65535'));
  });

  it('reads log settings: GME_LOG_LEVEL quiet silences, the flag wins, bad values are named', () => {
    expect(resolveConfig(base, { GME_LOG_LEVEL: 'quiet' }).logLevel).toBe('silent');
    expect(resolveConfig(base, { GME_LOG_LEVEL: 'WARN' }).logLevel).toBe('warn');
    expect(resolveConfig({ ...base, 'log.level': 'debug' }, { GME_LOG_LEVEL: 'quiet' }).logLevel).toBe('debug');
    expect(resolveConfig(base, { GME_LOG_FILE: '/var/log/x.log' }).logFile).toBe('/var/log/x.log');
    expect(resolveConfig({ ...base, 'log.file': '/f' }, { GME_LOG_FILE: '/e' }).logFile).toBe('/f');
    expect(() => resolveConfig(base, { GME_LOG_LEVEL: 'loud' })).toThrow(new ConfigError('env GME_LOG_LEVEL "loud": must be debug, info, warn, error or quiet'));
    expect(() => resolveConfig({ ...base, 'log.format': 'xml' }, {})).toThrow(new ConfigError('--log.format "xml": must be json or logfmt'));
  });

  it('takes TLS files from flags or GME_CERT_FILE/GME_CERT_KEY, and wants both', () => {
    const c = resolveConfig(base, { GME_CERT_FILE: '/c.pem', GME_CERT_KEY: '/k.pem' });
    expect([c.tlsCertFile, c.tlsKeyFile]).toEqual(['/c.pem', '/k.pem']);
    expect(() => resolveConfig(base, { GME_CERT_FILE: '/c.pem' })).toThrow(new ConfigError('env GME_CERT_FILE is set but no key: give --tls.key-file or GME_CERT_KEY too'));
    expect(() => resolveConfig({ ...base, 'tls.keyFile': '/k' }, {})).toThrow(new ConfigError('--tls.key-file is set but no certificate: give --tls.cert-file or GME_CERT_FILE too'));
    expect(() => resolveConfig({ ...base, 'tls.keyFile': '/k', 'tls.certFile': '/c', 'web.config.file': '/w.yml' }, {})).toThrow(ConfigError);
  });

  it('parses constant labels from --label or MULTIPROC_EXPORTER_LABELS, sorted; the flag wins', () => {
    expect(resolveConfig(base, { MULTIPROC_EXPORTER_LABELS: 'shard=catchall, zone=a=b' }).labels).toEqual([
      ['shard', 'catchall'],
      ['zone', 'a=b'],
    ]);
    expect(resolveConfig({ ...base, label: ['b=2', 'a=1'] }, { MULTIPROC_EXPORTER_LABELS: 'c=3' }).labels).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
    expect(() => resolveConfig({ ...base, label: ['9x=1'] }, {})).toThrow(/--label "9x=1": expected name=value/);
    expect(() => resolveConfig({ ...base, label: ['__x=1'] }, {})).toThrow(/not starting with __/);
    expect(() => resolveConfig({ ...base, label: ['a='] }, {})).toThrow(new ConfigError('--label "a=": the value is empty (an empty label is no label)'));
    expect(() => resolveConfig({ ...base, label: ['a=1', 'a=2'] }, {})).toThrow(new ConfigError('--label: label a is given twice'));
    expect(() => resolveConfig(base, { MULTIPROC_EXPORTER_LABELS: 'novalue' })).toThrow(/env MULTIPROC_EXPORTER_LABELS "novalue"/);
  });

  it('checks the telemetry path and the health address', () => {
    expect(resolveConfig({ ...base, 'web.telemetryPath': '/m2' }, {}).telemetryPath).toBe('/m2');
    expect(() => resolveConfig({ ...base, 'web.telemetryPath': 'metrics' }, {})).toThrow(ConfigError);
    expect(() => resolveConfig({ ...base, 'web.telemetryPath': '/readiness' }, {})).toThrow(ConfigError);
    expect(resolveConfig({ ...base, 'web.healthAddress': '127.0.0.1:9799' }, {}).healthListen).toEqual({ host: '127.0.0.1', port: 9799 });
    expect(() => resolveConfig({ ...base, 'web.listenAddress': ':9000', 'web.healthAddress': ':9000' }, {})).toThrow(
      new ConfigError('--web.health-address :9000 is the metrics address: give a different port'),
    );
  });
});

describe('--help text', () => {
  it('names every env var and default', () => {
    const dir = OPTIONS.find((o) => o.key === 'dir')!;
    expect(optionHelp(dir)).toBe(
      'metrics directory the workers write their .db files into [env: PROMETHEUS_MULTIPROC_DIR, prometheus_multiproc_dir, GME_MMAP_METRICS_DIR] [default: (required)]',
    );
    const listen = OPTIONS.find((o) => o.key === 'web.listenAddress')!;
    expect(optionHelp(listen)).toContain(`[env: GME_SERVER_HOST + GME_SERVER_PORT] [default: :${DEFAULT_PORT}]`);
  });

  it('parses IPv6 and all-interfaces forms', () => {
    expect(parseListenAddress(':80', 'x')).toEqual({ host: undefined, port: 80 });
    expect(parseListenAddress('[::]:80', 'x')).toEqual({ host: '::', port: 80 });
    expect(parseListenAddress('example.com:80', 'x')).toEqual({ host: 'example.com', port: 80 });
  });
});

describe('OPTIONS', () => {
  it('names each option by the key commander stores its flag under (else the flag is silently ignored)', () => {
    for (const o of OPTIONS) expect([o.flag, new Option(o.flag).attributeName()]).toEqual([o.flag, o.key]);
  });
});

describe('formatListenAddress', () => {
  it('writes every interface as ":port", an IPv6 host in brackets, others as given', () => {
    expect(formatListenAddress({ host: undefined, port: 9798 })).toBe(':9798');
    expect(formatListenAddress({ host: '127.0.0.1', port: 0 })).toBe('127.0.0.1:0');
    expect(formatListenAddress({ host: '::1', port: 9798 })).toBe('[::1]:9798');
    expect(formatListenAddress({ host: 'example.com', port: 80 })).toBe('example.com:80');
  });

  it('is read back by parseListenAddress as the same address', () => {
    for (const text of [':9798', '0.0.0.0:1', '[::]:80', '[fe80::1]:65535', 'localhost:9798']) {
      expect(formatListenAddress(parseListenAddress(text, 'x'))).toBe(text);
    }
  });
});
