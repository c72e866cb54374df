import { compareTokens, parseToken } from '../../../src/core/offset-token';
import { tokenSortKey } from '../../../src/offsets/token-order';

describe('tokenSortKey', () => {
  it('orders like the tokens themselves', () => {
    const tokens = [
      '0/0#-1@-1',
      '0/16B3#0@0',
      '0/16B3#1@1',
      '0/16B3#10@2',
      '1/0#0@3',
      'FFFFFFFF/FFFFFFFF#5@900',
      '0/16B4#0@4',
    ];
    const byKey = [...tokens].sort((a, b) => (tokenSortKey(a) < tokenSortKey(b) ? -1 : 1));
    const byToken = [...tokens].sort((a, b) => compareTokens(parseToken(a), parseToken(b)));
    expect(byKey).toEqual(byToken);
  });
});
