#!/usr/bin/env node
'use strict';
// Removes the native/ workspace that prepack.js generated for the tarball.
const fs = require('node:fs');
const path = require('node:path');

fs.rmSync(path.join(__dirname, '..', 'native'), { recursive: true, force: true });
