#!/usr/bin/env node
// Independent reader/writer of Kibana's `kibana.keystore`, used by tests/keystore_kibana_node.rs
// to check es-secure's Rust implementation against a second one. It is written from the
// documented format (Kibana's src/cli/keystore/keystore.js), not from the Rust code:
//   file   = "1:" + base64(salt[64] || iv[12] || authTag[16] || ciphertext)
//   key    = pbkdf2(password, salt, 10000 iterations, 32 bytes, sha512)
//   cipher = aes-256-gcm, no additional authenticated data
//   plain  = JSON.stringify(object of settings)
//
// Usage (the password comes from the KEYSTORE_TEST_PASSWORD env var, default ""):
//   node kibana_keystore_decrypt.js decrypt <file>   prints the JSON object on stdout
//   node kibana_keystore_decrypt.js encrypt <file>   reads a JSON object on stdin, writes <file>
'use strict';

const crypto = require('crypto');
const fs = require('fs');

const password = process.env.KEYSTORE_TEST_PASSWORD || '';
const [mode, file] = process.argv.slice(2);

function decrypt(text) {
  const [version, data] = text.split(':');
  if (version !== '1') throw new Error(`unsupported keystore version ${version}`);
  const raw = Buffer.from(data, 'base64');
  const salt = raw.subarray(0, 64);
  const iv = raw.subarray(64, 76);
  const tag = raw.subarray(76, 92);
  const ciphertext = raw.subarray(92);
  const key = crypto.pbkdf2Sync(password, salt, 10000, 32, 'sha512');
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
}

function encrypt(plain) {
  const salt = crypto.randomBytes(64);
  const iv = crypto.randomBytes(12);
  const key = crypto.pbkdf2Sync(password, salt, 10000, 32, 'sha512');
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return '1:' + Buffer.concat([salt, iv, tag, ciphertext]).toString('base64');
}

if (mode === 'decrypt') {
  const json = JSON.parse(decrypt(fs.readFileSync(file, 'utf8')));
  process.stdout.write(JSON.stringify(json));
} else if (mode === 'encrypt') {
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  fs.writeFileSync(file, encrypt(JSON.stringify(input)));
} else {
  process.stderr.write('usage: kibana_keystore_decrypt.js decrypt|encrypt <file>\n');
  process.exit(2);
}
