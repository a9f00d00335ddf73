import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** The package version (package.json is one level above both src/ and dist/). */
export const VERSION: string = (require('../package.json') as { version: string }).version;
