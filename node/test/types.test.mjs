// index.d.ts matches the runtime: the same exports and class members, and real usage
// type-checks (ESM and CommonJS TypeScript, strict) with the TypeScript compiler.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import * as esm from 'aurora-db';
import { NODE_DIR } from './helpers.mjs';

const require = createRequire(import.meta.url);
const ts = require('typescript');
const cjs = require('aurora-db');

function declared() {
  const file = path.join(NODE_DIR, 'index.d.ts');
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const values = new Set();
  const classes = {};
  const exported = (n) => n.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  for (const st of sf.statements) {
    if (!exported(st)) continue;
    if (ts.isClassDeclaration(st)) {
      values.add(st.name.text);
      const c = (classes[st.name.text] = { instance: new Set(), statics: new Set() });
      for (const m of st.members) {
        if (ts.isConstructorDeclaration(m)) continue;
        const name = ts.isComputedPropertyName(m.name) ? `[${m.name.expression.getText(sf)}]` : m.name.text;
        const isStatic = m.modifiers?.some((x) => x.kind === ts.SyntaxKind.StaticKeyword);
        (isStatic ? c.statics : c.instance).add(name);
      }
    } else if (ts.isFunctionDeclaration(st)) {
      values.add(st.name.text);
    } else if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) values.add(d.name.text);
    }
  }
  return { values, classes };
}

function runtimeMembers(Cls, sample) {
  const instance = new Set();
  for (const k of Reflect.ownKeys(Cls.prototype)) {
    if (k === 'constructor') continue;
    instance.add(typeof k === 'symbol' ? `[${k.description}]` : k);
  }
  if (sample) for (const k of Object.keys(sample)) instance.add(k);
  const statics = new Set(Object.getOwnPropertyNames(Cls).filter((k) => !['length', 'name', 'prototype'].includes(k)));
  return { instance, statics };
}

const sorted = (s) => [...s].sort();

test('CommonJS and ESM export the same objects, as declared', () => {
  const { values } = declared();
  assert.deepEqual(sorted(Object.keys(cjs)), sorted(values));
  assert.deepEqual(sorted(Object.keys(esm)), sorted(values));
  for (const k of values) assert.equal(esm[k], cjs[k], `${k} is the same object in CJS and ESM`);
});

test('every declared class member exists at runtime and vice versa', () => {
  const { classes } = declared();
  const samples = { AuroraError: new cjs.AuroraError('m') };
  for (const [name, decl] of Object.entries(classes)) {
    const rt = runtimeMembers(cjs[name], samples[name]);
    if (name === 'AuroraError') {
      // Inherited from Error, declared on the class for precise types.
      for (const k of ['message', 'stack']) rt.instance.delete(k);
      decl.instance.delete('message');
      rt.instance.add('name');
    }
    assert.deepEqual(sorted(decl.instance), sorted(rt.instance), `${name} instance members`);
    assert.deepEqual(sorted(decl.statics), sorted(rt.statics), `${name} static members`);
  }
});

test('usage type-checks under strict TypeScript (ESM and CommonJS)', () => {
  const configPath = path.join(NODE_DIR, 'test', 'types', 'tsconfig.json');
  const cfg = ts.readConfigFile(configPath, ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(cfg.config, ts.sys, path.dirname(configPath));
  const program = ts.createProgram(parsed.fileNames, parsed.options);
  const diags = ts.getPreEmitDiagnostics(program);
  const text = ts.formatDiagnostics(diags, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => NODE_DIR,
    getNewLine: () => '\n',
  });
  assert.equal(diags.length, 0, text);
  // The program resolved 'aurora-db' to this package's index.d.ts.
  assert.ok(program.getSourceFiles().some((f) => path.resolve(f.fileName) === path.join(NODE_DIR, 'index.d.ts')));
});
