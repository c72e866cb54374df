import { EXIT, exitCodeFor } from '../../../src/cli/exit-codes';
import { TidemarkError } from '../../../src/core/errors';

describe('exitCodeFor', () => {
  it('gives each kind of error the code operators and Kubernetes read', () => {
    expect(exitCodeFor(new TidemarkError('config', 'x'))).toBe(EXIT.config);
    expect(exitCodeFor(new TidemarkError('unsupported_type', 'x'))).toBe(EXIT.sourceSetup);
    expect(exitCodeFor(new TidemarkError('transient', 'x'))).toBe(EXIT.unavailable);
    expect(exitCodeFor(new TidemarkError('corrupt_state', 'x'))).toBe(EXIT.state);
    // a change that cannot be mirrored is the data's problem, not an unexplained failure
    expect(exitCodeFor(new TidemarkError('unsupported_value', 'x'))).toBe(7);
    expect(exitCodeFor(new TidemarkError('malformed_event', 'x'))).toBe(7);
    expect(exitCodeFor(new TidemarkError('internal', 'x'))).toBe(EXIT.failure);
    expect(exitCodeFor(new Error('x'))).toBe(EXIT.failure);
  });
});
