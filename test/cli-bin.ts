// The `switchyard` command run from the sources, for tests that spawn it (bin/switchyard.js needs a build).
import { main } from '../src/cli/main.js';

await main();
