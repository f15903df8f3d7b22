#!/usr/bin/env node
// Compiles src/*.sol with the pinned solc-js (package.json) and writes out/<Contract>.json: the
// ABI, creation and runtime bytecode, method identifiers, the compiler version and settings.
// `--check` compiles afresh and fails if the checked-in artefacts differ, so the bytecode the
// Rust tests run is the bytecode this source produces.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

const PINNED = '0.8.30';
const here = __dirname;
const check = process.argv.includes('--check');

const version = solc.version();
if (!version.startsWith(PINNED + '+')) {
  console.error(`solc ${version} is not the pinned ${PINNED}; run npm ci in ${here}`);
  process.exit(1);
}

const settings = {
  evmVersion: 'prague',
  viaIR: true,
  optimizer: { enabled: true, runs: 10000 },
  outputSelection: {
    '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'evm.methodIdentifiers'] },
  },
};
const sources = {};
for (const name of fs.readdirSync(path.join(here, 'src')).sort()) {
  if (name.endsWith('.sol')) {
    sources[name] = { content: fs.readFileSync(path.join(here, 'src', name), 'utf8') };
  }
}
const output = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources, settings })));
const problems = (output.errors || []).filter((e) => e.severity === 'error' || e.type === 'Warning');
for (const problem of problems) {
  console.error(problem.formattedMessage);
}
if (problems.length > 0) {
  process.exit(1);
}

let stale = 0;
fs.mkdirSync(path.join(here, 'out'), { recursive: true });
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, contract] of Object.entries(contracts)) {
    const artefact = {
      contract: name,
      source: `src/${file}`,
      compiler: `solc ${version}`,
      settings: { evmVersion: settings.evmVersion, viaIR: settings.viaIR, optimizer: settings.optimizer },
      abi: contract.abi,
      methodIdentifiers: contract.evm.methodIdentifiers,
      bytecode: '0x' + contract.evm.bytecode.object,
      deployedBytecode: '0x' + contract.evm.deployedBytecode.object,
    };
    const text = JSON.stringify(artefact, null, 2) + '\n';
    const target = path.join(here, 'out', `${name}.json`);
    if (check) {
      const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
      if (current !== text) {
        console.error(`${path.relative(process.cwd(), target)} differs from a fresh compile; run node compile.js`);
        stale += 1;
      } else {
        console.log(`${name}: checked-in artefact matches a fresh compile (${version})`);
      }
    } else {
      fs.writeFileSync(target, text);
      console.log(`${name}: wrote ${path.relative(process.cwd(), target)} (${version})`);
    }
  }
}
process.exit(stale === 0 ? 0 : 1);
