#!/usr/bin/env node
// Kibana's view of what es-secure wrote: a TEST-ONLY stand-in for Kibana, which cannot be
// installed on the test machines (no distribution in Debian or npm; `@kbn/*` is unpublished).
// It does what Kibana's server does with kibana.yml and kibana.keystore up to its first calls
// to Elasticsearch, ported (our own code) from Kibana's source as stored from elastic/kibana's
// main branch (not diffed line by line against the 8.19 branch; kibana.yml is parsed with the
// `yaml` package as current Kibana does, where older 8.x used js-yaml):
//   - read_config.ts      kibana.yml: dotted keys split into objects, `${VAR}` / `${VAR:def}`
//   - get_keystore.js     `<data>/kibana.keystore` wins over `<config>/kibana.keystore`;
//                         `<data>` = first directory of $DATA_PATH, <home>/data, /var/lib/kibana
//   - keystore.js         "1:" base64(salt64 iv12 tag16 ciphertext), pbkdf2-sha512 x10000,
//                         aes-256-gcm; password from $KBN_KEYSTORE_PASSWORD
//   - read_keystore.js    every entry set (as a dotted path) over the yml's values
//   - elasticsearch_config.ts   the schema rules of `elasticsearch.*` that matter here
//   - client_config.ts    parseClientOptions: verificationMode -> Node TLS options
//   - configure_client.ts `new Client({ Connection: HttpConnection, ConnectionPool:
//                         ClusterConnectionPool })`, then the start-up `nodes.info` call
//   - ssl_config.ts / get_tls_options.ts   `server.ssl.*` -> the HTTPS server's TLS options
// It must NOT be used as evidence beyond that: Kibana's plugins, saved objects, status page
// and UI are not here.
//
// Usage (exit 0 ok; 2 config/schema; 3 keystore; 4 connection/TLS; 5 authentication):
//   node kibana_view.js check --home DIR [--config DIR] [--major 8|9]
//       prints one JSON line {client, versions, username, token, verificationMode, keystore,
//       hosts, keystoreEntries} (token: the service account token's name and type, if one);
//       --major picks the client of that Kibana major (8.19.x, or 9.x installed as
//       `elasticsearch9`)
//   node kibana_view.js serve --home DIR [--config DIR] [--seconds N]
//       serves `server.ssl.*` on server.host, server.publicBaseUrl's port; prints
//       "listening <port>" and exits after N seconds (default 60) or on SIGTERM
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

function fail(code, msg) {
  process.stderr.write(`kibana-view: ${msg}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const out = { cmd: argv[0], seconds: 60, major: '8' };
  for (let i = 1; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (v === undefined) fail(2, `missing value for ${argv[i]}`);
    if (argv[i] === '--home') out.home = v;
    else if (argv[i] === '--config') out.config = v;
    else if (argv[i] === '--seconds') out.seconds = Number(v);
    else if (argv[i] === '--major') out.major = v;
    else fail(2, `unknown argument ${argv[i]}`);
  }
  if (!out.home) fail(2, 'usage: kibana_view.js check|serve --home DIR [--config DIR] [--major 8|9]');
  if (out.major !== '8' && out.major !== '9') fail(2, `--major must be 8 or 9, not ${out.major}`);
  out.config = out.config || process.env.KBN_PATH_CONF || path.join(out.home, 'config');
  return out;
}

// --- kibana.yml (read_config.ts) -----------------------------------------------------------
function substituteEnv(value, key) {
  return value.replace(/\$\{(\w+)(?::([^}]*))?\}/g, (_, name, def) => {
    if (process.env[name] !== undefined) return process.env[name];
    if (def !== undefined) return def;
    throw new Error(`Unknown environment variable referenced in config : ${name} (at ${key})`);
  });
}

function setPath(obj, dotted, value) {
  const parts = dotted.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (cur[p] === null || typeof cur[p] !== 'object' || Array.isArray(cur[p])) cur[p] = {};
    cur = cur[p];
  }
  cur[parts[parts.length - 1]] = value;
}

// Nested and dotted keys both end up as nested objects; strings get `${ENV}` substituted.
function deepen(src, prefix, dst) {
  for (const [k, v] of Object.entries(src)) {
    const full = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      deepen(v, full, dst);
    } else if (Array.isArray(v)) {
      setPath(dst, full, v.map((x) => (typeof x === 'string' ? substituteEnv(x, full) : x)));
    } else {
      setPath(dst, full, typeof v === 'string' ? substituteEnv(v, full) : v);
    }
  }
  return dst;
}

function readKibanaYml(configDir) {
  const YAML = require('yaml');
  const file = path.join(configDir, 'kibana.yml');
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    fail(2, `cannot read ${file}: ${e.code || e.message}`);
  }
  let parsed;
  try {
    parsed = YAML.parse(text) || {};
  } catch (e) {
    fail(2, `${file}: ${e.message}`);
  }
  try {
    return deepen(parsed, '', {});
  } catch (e) {
    fail(2, `${file}: ${e.message}`);
  }
}

// --- kibana.keystore (get_keystore.js, keystore.js, read_keystore.js) ----------------------
function isDirectory(p) {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function keystorePath(home, configDir) {
  const data = [process.env.DATA_PATH, path.join(home, 'data'), '/var/lib/kibana']
    .filter((p) => typeof p === 'string')
    .find(isDirectory);
  if (data && fs.existsSync(path.join(data, 'kibana.keystore'))) {
    return path.join(data, 'kibana.keystore');
  }
  return path.join(configDir, 'kibana.keystore');
}

function keystorePassword() {
  return process.env.KBN_KEYSTORE_PASSWORD || '';
}

function readKeystore(file) {
  if (!fs.existsSync(file)) return {};
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    fail(3, `cannot read keystore ${file}: ${e.code || e.message}`);
  }
  const [version, data] = text.trim().split(':');
  if (version !== '1') fail(3, `${file}: unsupported keystore version ${version}`);
  const raw = Buffer.from(data || '', 'base64');
  try {
    const key = crypto.pbkdf2Sync(keystorePassword(), raw.subarray(0, 64), 10000, 32, 'sha512');
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, raw.subarray(64, 76));
    decipher.setAuthTag(raw.subarray(76, 92));
    const plain = Buffer.concat([decipher.update(raw.subarray(92)), decipher.final()]);
    return JSON.parse(plain.toString('utf8'));
  } catch (e) {
    // Kibana's words for a failed GCM tag check.
    fail(3, `Keystore has been corrupted or the password was incorrect (${file}: ${e.message})`);
  }
}

function loadSettings(opts) {
  const settings = readKibanaYml(opts.config);
  const ks = keystorePath(opts.home, opts.config);
  const entries = readKeystore(ks);
  for (const [k, v] of Object.entries(entries)) setPath(settings, k, v);
  return { settings, keystore: fs.existsSync(ks) ? ks : null, entries: Object.keys(entries) };
}

// --- elasticsearch.* schema (elasticsearch_config.ts) ----------------------------------------
function readCa(p) {
  // Kibana reads each CA with readFileSync(path, 'utf8'); relative paths resolve from cwd,
  // which for the packaged Kibana is its home. es-secure writes absolute paths.
  try {
    return fs.readFileSync(p, 'utf8');
  } catch (e) {
    fail(2, `[config validation of [elasticsearch].ssl.certificateAuthorities]: cannot read ${p}: ${e.code || e.message}`);
  }
}

function esConfig(settings) {
  const es = settings.elasticsearch || {};
  const bad = (key, msg) => fail(2, `[config validation of [elasticsearch].${key}]: ${msg}`);
  let hosts = es.hosts === undefined ? ['http://localhost:9200'] : es.hosts;
  if (!Array.isArray(hosts)) hosts = [hosts];
  if (hosts.length < 1) bad('hosts', 'array size is [0], but cannot be smaller than [1]');
  for (const h of hosts) {
    let u;
    try {
      u = new URL(h);
    } catch {
      bad('hosts', `value must be a valid URI (see RFC 3986): ${h}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      bad('hosts', `expected URI with scheme [http|https] but got [${u.protocol.replace(':', '')}]`);
    }
  }
  if (es.username === 'elastic') {
    bad('username', 'value of "elastic" is forbidden. This is a superuser account that cannot write to system indices that Kibana needs to function. Use a service account token instead.');
  }
  if (es.serviceAccountToken !== undefined && es.username !== undefined) {
    bad('serviceAccountToken', 'serviceAccountToken cannot be specified when "username" is also set.');
  }
  if (es.password !== undefined && typeof es.password === 'number') es.password = String(es.password);
  const ssl = es.ssl || {};
  const verificationMode = ssl.verificationMode === undefined ? 'full' : ssl.verificationMode;
  if (!['none', 'certificate', 'full'].includes(verificationMode)) {
    bad('ssl.verificationMode', `types that failed validation: expected one of [none, certificate, full] but got [${verificationMode}]`);
  }
  let cas = ssl.certificateAuthorities;
  if (cas !== undefined && !Array.isArray(cas)) cas = [cas];
  return {
    hosts,
    username: es.username,
    password: es.password,
    serviceAccountToken: es.serviceAccountToken,
    ssl: {
      verificationMode,
      certificateAuthorities: cas ? cas.map((p) => readCa(p)) : undefined,
    },
  };
}

// --- parseClientOptions (client_config.ts) ---------------------------------------------------
function clientOptions(cfg) {
  const opts = {
    sniffOnStart: false,
    sniffOnConnectionFault: false,
    disablePrototypePoisoningProtection: true,
    agent: { maxTotalSockets: 800, keepAlive: true, timeout: 60000, maxFreeSockets: 256 },
    compression: false,
    requestTimeout: 30000,
    pingTimeout: 30000,
    maxRetries: 0,
  };
  if (cfg.username && cfg.password) {
    opts.auth = { username: cfg.username, password: cfg.password };
  } else if (cfg.serviceAccountToken) {
    opts.auth = { bearer: cfg.serviceAccountToken };
  }
  opts.nodes = cfg.hosts.map((h) => {
    const url = new URL(h);
    url.port = url.port || (url.protocol === 'https:' ? '443' : '80');
    return { url };
  });
  const tls = { ca: cfg.ssl.certificateAuthorities };
  switch (cfg.ssl.verificationMode) {
    case 'none':
      tls.rejectUnauthorized = false;
      break;
    case 'certificate':
      tls.rejectUnauthorized = true;
      tls.checkServerIdentity = () => undefined;
      break;
    case 'full':
      tls.rejectUnauthorized = true;
      break;
  }
  opts.tls = tls;
  return opts;
}

function errorReason(e) {
  // The transport wraps Node's TLS/socket error; its message is what Kibana logs.
  return `${e.name}: ${e.message}`;
}

// The client's version, from its package.json (not exported, so found on disk).
function clientVersion(pkg) {
  let dir = path.dirname(require.resolve(pkg));
  while (dir !== path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const meta = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (meta.name === '@elastic/elasticsearch') return meta.version;
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}

async function check(opts) {
  const { settings, keystore, entries } = loadSettings(opts);
  const cfg = esConfig(settings);
  // Kibana ships the client of its own major: 8.19 with Kibana 8.19, 9.x with Kibana 9.x.
  const pkg = opts.major === '9' ? 'elasticsearch9' : '@elastic/elasticsearch';
  const { Client, HttpConnection, ClusterConnectionPool } = require(pkg);
  const client = new Client({
    ...clientOptions(cfg),
    Connection: HttpConnection,
    ConnectionPool: ClusterConnectionPool,
  });
  let versions;
  try {
    // Kibana's start-up version check (ensureEsVersion / pollEsNodesVersion).
    const info = await client.nodes.info({
      node_id: '_local',
      metric: 'http',
      filter_path: ['nodes.*.version', 'nodes.*.http.publish_address', 'nodes.*.ip'],
    });
    versions = Object.values(info.nodes || {}).map((n) => n.version);
  } catch (e) {
    const status = e.meta && e.meta.statusCode;
    if (status === 401 || status === 403) fail(5, `nodes.info: ${status}: ${errorReason(e)}`);
    fail(4, `nodes.info: ${errorReason(e)}`);
  }
  let me;
  try {
    me = await client.security.authenticate();
  } catch (e) {
    const status = e.meta && e.meta.statusCode;
    fail(status ? 5 : 4, `security.authenticate: ${status || ''} ${errorReason(e)}`);
  }
  await client.close();
  process.stdout.write(
    JSON.stringify({
      client: clientVersion(pkg),
      versions,
      username: me.username,
      // A service account token says which one it is (name and type), never its value.
      token: me.token ? { name: me.token.name, type: me.token.type } : null,
      verificationMode: cfg.ssl.verificationMode,
      hosts: cfg.hosts,
      keystore,
      keystoreEntries: entries.sort(),
    }) + '\n'
  );
}

// --- the HTTPS server (ssl_config.ts, get_tls_options.ts) ------------------------------------
function serve(opts) {
  const { settings } = loadSettings(opts);
  const server = settings.server || {};
  const ssl = server.ssl || {};
  if (ssl.enabled !== true) fail(2, 'server.ssl.enabled is not true');
  if (!ssl.key && !(ssl.keystore && ssl.keystore.path)) {
    fail(2, '[config validation of [server].ssl]: must specify [certificate] and [key] -- or [keystore.path]');
  }
  const read = (p, key) => {
    try {
      return fs.readFileSync(p);
    } catch (e) {
      fail(2, `cannot read server.ssl.${key} ${p}: ${e.code || e.message}`);
    }
  };
  const protocols = ssl.supportedProtocols || ['TLSv1.2', 'TLSv1.3'];
  const all = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
  const { constants } = crypto;
  const disable = {
    TLSv1: constants.SSL_OP_NO_TLSv1,
    'TLSv1.1': constants.SSL_OP_NO_TLSv1_1,
    'TLSv1.2': constants.SSL_OP_NO_TLSv1_2,
    'TLSv1.3': constants.SSL_OP_NO_TLSv1_3,
  };
  // Kibana turns off every protocol not listed (SSL_OP_NO_*), as get_tls_options does.
  const secureOptions = all
    .filter((p) => !protocols.includes(p))
    .reduce((acc, p) => acc | disable[p], 0);
  const tlsOptions = {
    cert: read(ssl.certificate, 'certificate'),
    key: read(ssl.key, 'key'),
    ca: ssl.certificateAuthorities
      ? [].concat(ssl.certificateAuthorities).map((p) => read(p, 'certificateAuthorities'))
      : undefined,
    ciphers: (ssl.cipherSuites || constants.defaultCoreCipherList.split(':')).join(':'),
    honorCipherOrder: true,
    secureOptions,
    requestCert: false,
    rejectUnauthorized: false,
  };
  let port = server.port || 5601;
  if (server.publicBaseUrl) {
    const u = new URL(server.publicBaseUrl);
    if (u.protocol !== 'https:') fail(2, `server.publicBaseUrl ${server.publicBaseUrl} is not https`);
    port = Number(u.port || 443);
  }
  const https = require('https');
  const srv = https.createServer(tlsOptions, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><html><body><h1 id="kv">kibana-view ok</h1></body></html>\n');
  });
  srv.on('tlsClientError', () => {});
  // Kibana binds server.host (default "localhost").
  srv.listen(port, server.host || 'localhost', () => {
    process.stdout.write(`listening ${port}\n`);
  });
  const stop = () => srv.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  setTimeout(() => process.exit(0), opts.seconds * 1000).unref();
}

const opts = parseArgs(process.argv.slice(2));
if (opts.cmd === 'check') {
  check(opts).catch((e) => fail(4, e.stack || String(e)));
} else if (opts.cmd === 'serve') {
  serve(opts);
} else {
  fail(2, `unknown command ${opts.cmd}`);
}
