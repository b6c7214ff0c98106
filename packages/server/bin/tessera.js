#!/usr/bin/env node
// The `tessera` command. A file of its own, committed, rather than dist/cli/main.js itself: npm links
// a workspace's bins when it installs, before the root's prepare script has built dist/, and skips a
// bin whose file does not exist yet (a fresh clone would have no `npx tessera`).
import { run } from '../dist/cli/main.js';

run();
