/**
 * docker-compose.yml, checked without Docker: every Meridian service's environment must
 * load as a valid configuration, the regions and their NATS servers must match the demo's
 * topology (deploy/topology.json), and each leaf region's NATS config must point at the hub.
 *
 * No YAML package is a declared dependency, so the file is read by `parseYamlSubset` below:
 * a strict reader of the subset docker-compose.yml keeps to (block maps and lists, plain and
 * quoted scalars, comments). Anything else in the file fails the test instead of being
 * misread.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { demoTopology, parseTopology, rttBetween } from '../../dev/cluster/topology.ts';
import { NATS_INSTALL_HINT, findNatsServer } from '../../dev/cluster/nats-process.ts';
import { loadConfig } from '../../services/config.ts';
import type { ServiceConfig } from '../../services/config.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');

type Yaml = string | null | Yaml[] | { [key: string]: Yaml };

/**
 * Parses block-style YAML: maps, lists of scalars, single/double-quoted and plain scalars
 * (all kept as strings; an empty value is null), full-line and trailing comments. Throws on
 * anything else (anchors, aliases, flow collections, block scalars, tabs, several documents,
 * lists of maps, duplicate keys).
 */
function parseYamlSubset(text: string): Yaml {
  const lines = text
    .split('\n')
    .map((raw, i) => ({ n: i + 1, raw }))
    .filter(({ raw }) => raw.trim() !== '' && !raw.trim().startsWith('#'))
    .map(({ n, raw }) => {
      if (raw.includes('\t')) throw new Error(`line ${n}: tab`);
      if (raw.startsWith('---') || raw.startsWith('...')) throw new Error(`line ${n}: documents`);
      return { n, indent: raw.length - raw.trimStart().length, text: raw.trim() };
    });
  let i = 0;

  const scalar = (s: string, n: number): string | null => {
    if (s === '') return null;
    if (s.startsWith("'")) {
      const m = /^'((?:[^']|'')*)'(\s+#.*)?$/.exec(s);
      if (!m) throw new Error(`line ${n}: bad single-quoted scalar`);
      return m[1]!.replace(/''/g, "'");
    }
    if (s.startsWith('"')) {
      const m = /^"((?:[^"\\]|\\["\\])*)"(\s+#.*)?$/.exec(s);
      if (!m) throw new Error(`line ${n}: bad or unsupported double-quoted scalar`);
      return m[1]!.replace(/\\(["\\])/g, '$1');
    }
    if (/^[[{&*!|>%@`]/.test(s)) throw new Error(`line ${n}: unsupported YAML: ${s}`);
    return s.replace(/\s+#.*$/, '');
  };

  const block = (indent: number): Yaml => {
    const first = lines[i]!;
    if (first.text === '-' || first.text.startsWith('- ')) {
      const list: Yaml[] = [];
      while (i < lines.length && lines[i]!.indent === indent && /^-( |$)/.test(lines[i]!.text)) {
        const { n, text: t } = lines[i]!;
        const item = t.slice(1).trim();
        if (item === '' || /^[^'"\s][^:]*:( |$)/.test(item)) {
          throw new Error(`line ${n}: only scalar list items are supported`);
        }
        list.push(scalar(item, n));
        i++;
      }
      return list;
    }
    const map: { [key: string]: Yaml } = {};
    while (i < lines.length && lines[i]!.indent === indent) {
      const { n, text: t } = lines[i]!;
      const m = /^([A-Za-z0-9_.-]+):(?: +(.*))?$/.exec(t);
      if (!m) throw new Error(`line ${n}: expected "key: value", got ${t}`);
      const key = m[1]!;
      if (key in map) throw new Error(`line ${n}: duplicate key ${key}`);
      i++;
      if (m[2] !== undefined && m[2] !== '' && !m[2].startsWith('#')) {
        map[key] = scalar(m[2], n);
      } else if (i < lines.length && lines[i]!.indent > indent) {
        map[key] = block(lines[i]!.indent);
      } else if (i < lines.length && lines[i]!.indent === indent && /^- /.test(lines[i]!.text)) {
        map[key] = block(indent); // a list may sit at its key's indentation
      } else {
        map[key] = null;
      }
    }
    return map;
  };

  if (lines.length === 0) return null;
  const doc = block(lines[0]!.indent);
  if (i < lines.length) throw new Error(`line ${lines[i]!.n}: unexpected indentation`);
  return doc;
}

/** Docker Compose interpolation, for what a user gets with no variables set. */
function expandDefaults(value: string): string {
  return value.replace(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(:?-)?([^}]*)\}|[A-Za-z_]\w*)/g, (m) => {
    if (m === '$$') return '$';
    const d = /^\$\{[A-Za-z_][A-Za-z0-9_]*:?-(.*)\}$/.exec(m);
    if (!d) throw new Error(`${m} has no default: "docker compose up" would need it set`);
    return d[1]!;
  });
}

type Service = {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
};

const compose = parseYamlSubset(read('docker-compose.yml')) as {
  services: Record<string, Service>;
  volumes: Record<string, null>;
};
const services = compose.services;
const meridian = Object.entries(services).filter(([, s]) => s.build !== undefined);
const natsServices = Object.entries(services).filter(([, s]) => s.image?.startsWith('nats:'));
const topology = parseTopology(JSON.parse(read('deploy/topology.json')));
const regionNames = topology.regions.map((r) => r.name);
const hub = topology.regions.find((r) => r.primary)!.name;

/** A bind mount's host file (relative to the repo) for a path inside the container. */
function mountedFile(s: Service, inside: string): string {
  const v = (s.volumes ?? []).find((x) => x.split(':')[1] === inside);
  if (!v) throw new Error(`${inside} is not mounted`);
  const [host, , mode] = v.split(':');
  expect(host!.startsWith('./'), `${v} is a bind mount from the repo`).toBe(true);
  expect(mode, `${v} is read-only`).toBe('ro');
  return host!.slice(2);
}

/** The configuration a service loads at start: its --config file, then its environment. */
function configOf(name: string): ServiceConfig {
  const s = services[name]!;
  const env = Object.fromEntries(
    Object.entries(s.environment ?? {}).map(([k, v]) => [k, expandDefaults(v ?? '')]),
  );
  const args = s.command ?? [];
  const at = args.indexOf('--config');
  const file = at >= 0 ? join(repoRoot, mountedFile(s, args[at + 1]!)) : undefined;
  return loadConfig({ env, ...(file ? { file } : {}) });
}

/** The NATS config file a nats service runs with (`-c FILE`, mounted from deploy/nats). */
function natsConfOf(name: string): { path: string; text: string } {
  const s = services[name]!;
  const args = s.command ?? [];
  const at = args.findIndex((a) => a === '-c' || a === '--config');
  expect(at, `${name} runs with -c FILE`).toBeGreaterThanOrEqual(0);
  const path = mountedFile(s, args[at + 1]!);
  expect(path).toMatch(/^deploy\/nats\/[\w-]+\.conf$/);
  return { path, text: read(path) };
}

describe('parseYamlSubset', () => {
  it('reads the subset docker-compose.yml uses', () => {
    const doc = [
      '# comment',
      'name: x',
      'a:',
      '  b: plain value # trailing comment',
      "  c: 'it''s: quoted'",
      '  d: "say \\"hi\\""',
      '  e:',
      '    - -c',
      "    - '8081:8080'",
      '    # a comment between items',
      '    - http://h:1/x',
      '  f:',
      '  - at the key indent',
      '  g: ${V:-d}',
      'empty:',
      'last:',
      '  k:',
    ].join('\n');
    expect(parseYamlSubset(doc)).toEqual({
      name: 'x',
      a: {
        b: 'plain value',
        c: "it's: quoted",
        d: 'say "hi"',
        e: ['-c', '8081:8080', 'http://h:1/x'],
        f: ['at the key indent'],
        g: '${V:-d}',
      },
      empty: null,
      last: { k: null },
    });
  });

  it('refuses what it does not understand instead of misreading it', () => {
    for (const bad of [
      'a: &anchor x',
      'a: *alias',
      'a: [1, 2]',
      'a: {b: 1}',
      'a: |\n  text',
      'a:\n  - b: 1',
      'a: 1\na: 2',
      'a:\n\t- x',
      'a: 1\n   b: 2',
      '---\na: 1',
    ]) {
      expect(() => parseYamlSubset(bad), bad).toThrow();
    }
  });

  it('expands ${VAR:-default} to the default and refuses a variable without one', () => {
    expect(expandDefaults('admin:${K:-abc}')).toBe('admin:abc');
    expect(expandDefaults('${K-x}/$$HOME')).toBe('x/$HOME');
    expect(() => expandDefaults('${K}')).toThrow(/no default/);
    expect(() => expandDefaults('$K')).toThrow(/no default/);
  });
});

describe('docker-compose.yml', () => {
  it('runs a primary in the hub region and a follower and a router in every region', () => {
    const nodes = meridian.map(([name]) => {
      const c = configOf(name);
      return `${c.role} ${c.region} ${c.node}`;
    });
    expect(nodes.sort()).toEqual(
      [
        `primary ${hub} primary`,
        ...regionNames.flatMap((r) => [`follower ${r} follower`, `router ${r} router`]),
      ].sort(),
    );
    for (const [name, s] of meridian) {
      const c = configOf(name);
      expect(name).toBe(`${c.role}-${c.region}`);
      expect(s.build).toBe('.');
      expect(c.regions).toEqual(regionNames);
      expect(c.http.host).toBe('0.0.0.0');
      expect(c.publicUrl).toBe(`http://${name}:${c.http.port}`);
      expect(c.auth.keys.map((k) => k.role)).toEqual(['admin']);
      if (c.role === 'router') expect(c.router.hostReplica).toBe(false);
    }
    // One deployment: every node shares the admin key and the token secret.
    expect(new Set(meridian.map(([n]) => configOf(n).tokenSecret)).size).toBe(1);
    expect(new Set(meridian.map(([n]) => configOf(n).auth.keys[0]!.key)).size).toBe(1);
  });

  it('connects every node to its own region’s NATS server, leaf regions with the hub domain', () => {
    for (const [name] of meridian) {
      const c = configOf(name);
      const servers = [c.nats.servers].flat();
      expect(servers).toEqual([`nats://nats-${c.region}:4222`]);
      const natsName = new URL(servers[0]!).hostname;
      expect(natsServices.map(([n]) => n)).toContain(natsName);
      expect(natsConfOf(natsName).text).toMatch(/^port: 4222$/m);
      expect(c.nats.hubDomain, name).toBe(c.region === hub ? undefined : hub);
      expect(Object.keys(services[name]!.depends_on ?? {}), name).toContain(natsName);
    }
  });

  it('runs one NATS server per region: the hub with leafnodes, each other region a leaf of it', () => {
    expect(natsServices.map(([n]) => n).sort()).toEqual(regionNames.map((r) => `nats-${r}`).sort());
    const hubConf = natsConfOf(`nats-${hub}`);
    const leafPort = /leafnodes\s*\{[^}]*\bport:\s*(\d+)/.exec(hubConf.text)?.[1];
    expect(leafPort, hubConf.path).toBe('7422');
    for (const region of regionNames) {
      const { path, text } = natsConfOf(`nats-${region}`);
      expect(/jetstream\s*\{[^}]*\bdomain:\s*"?([\w-]+)"?/.exec(text)?.[1], path).toBe(region);
      expect(text, path).toMatch(/store_dir:\s*\/data\//);
      expect(services[`nats-${region}`]!.volumes).toContain(`nats-${region}-data:/data`);
      const remotes = [...text.matchAll(/url:\s*"(nats-leaf:\/\/[^"]+)"/g)].map((m) => m[1]);
      expect(remotes, path).toEqual(region === hub ? [] : [`nats-leaf://nats-${hub}:${leafPort}`]);
    }
  });

  it('keeps every NATS config valid for nats-server', () => {
    const binary = findNatsServer();
    if (!binary) throw new Error(NATS_INSTALL_HINT);
    for (const [name] of natsServices) {
      const { path } = natsConfOf(name);
      const r = spawnSync(binary, ['-t', '-c', join(repoRoot, path)], { encoding: 'utf8' });
      expect(r.status, `${path}: ${r.stderr}`).toBe(0);
    }
  });

  it('publishes each router on its own host port, the one in deploy/topology.json', () => {
    const published = Object.values(services).flatMap((s) => s.ports ?? []);
    const hostPorts = published.map((p) => p.split(':')[0]);
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
    for (const r of topology.regions) {
      const name = `router-${r.name}`;
      const c = configOf(name);
      expect(services[name]!.ports).toEqual([`${r.ports.router}:${c.http.port}`]);
    }
    for (const [name, s] of meridian) {
      if (!name.startsWith('router-')) expect(s.ports, name).toBeUndefined();
    }
  });

  it('keeps replica data on named volumes and starts services after what they need', () => {
    for (const [name, s] of [...meridian, ...natsServices]) {
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0]!;
        if (!source.startsWith('./')) expect(compose.volumes, v).toHaveProperty([source]);
      }
      for (const [dep, how] of Object.entries(s.depends_on ?? {})) {
        expect(services, `${name} depends on ${dep}`).toHaveProperty([dep]);
        expect(how.condition).toBe('service_healthy');
      }
    }
    for (const [name, s] of meridian) {
      const c = configOf(name);
      if (c.role === 'router') continue;
      expect(s.volumes, name).toContain(`${name}-data:${c.dataDir}`);
    }
  });

  it('describes the same regions as deploy/topology.json, with the demo’s latency matrix', () => {
    const demo = parseTopology(demoTopology);
    expect(regionNames).toEqual(demo.regions.map((r) => r.name));
    expect(hub).toBe('us-east');
    expect(topology.rttMs).toEqual(demo.rttMs);
    expect(topology.jitterMs).toBe(demo.jitterMs);
    expect(rttBetween(topology, 'us-east', 'eu-west')).toBe(80);
    expect(rttBetween(topology, 'ap-south', 'us-east')).toBe(220);
    expect(rttBetween(topology, 'eu-west', 'ap-south')).toBe(150);
  });
});

describe('Dockerfile', () => {
  it('runs services/start.mjs, and the build context leaves local state out', () => {
    const dockerfile = read('Dockerfile');
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim/m);
    expect(dockerfile).toContain('npm ci');
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "services\/start\.mjs"\]$/m);
    const ignored = read('.dockerignore').split('\n');
    for (const p of ['node_modules', '.data', 'bench/results', '.git'])
      expect(ignored).toContain(p);
  });
});
