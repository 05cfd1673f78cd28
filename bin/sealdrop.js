#!/bin/sh
//usr/bin/env true; exec node --initial-heap-size=64 "$0" "$@"
/**
 * The installed `sealdrop` command. Read by sh, the line above starts node on this
 * same file with the flags of shared/node-flags.ts (which says why), flags a
 * `#!/usr/bin/env node` line cannot pass portably; read by node, it is a comment.
 * It runs the CLI bundled into one file (scripts/build-cli.ts), which starts faster.
 */
import '../dist/bundle/sealdrop.js';
