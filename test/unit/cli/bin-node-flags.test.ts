import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BIN, NODE_FLAGS } from '../../support/tidemark-process';

describe('bin/tidemark', () => {
  // The container's entrypoint and an installed `tidemark` run it through its first line, which
  // gives node its flags (a larger young generation: the sink's per-change garbage is short-lived).
  it('runs as an executable, with node flags node accepts', async () => {
    expect(NODE_FLAGS).toContain('--max-semi-space-size=64');
    const { stdout } = await promisify(execFile)(BIN, ['--help']);
    expect(stdout).toMatch(/^Usage: tidemark/);
    // node refuses an unknown flag (exit 9), so a typo in that line fails here, not in production
    const { stdout: v } = await promisify(execFile)(process.execPath, [
      ...NODE_FLAGS,
      '-p',
      `process.execArgv.slice(0, ${NODE_FLAGS.length}).join(" ")`,
    ]);
    expect(v.trim()).toBe(NODE_FLAGS.join(' '));
  });
});
