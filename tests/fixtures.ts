// Where the parity fixtures are (../shared/parity, or $IE_SHARED_DIR/parity) and their manifest.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const sharedDir = process.env.IE_SHARED_DIR ?? path.join(__dirname, '..', '..', 'shared');
export const parityDir = path.join(sharedDir, 'parity');

/** manifest.json (Python's -Infinity read as null), or null when the fixtures are absent. */
export function parityManifest(): any {
  const file = path.join(parityDir, 'manifest.json');
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8').replace(/-Infinity/g, 'null')) : null;
}
