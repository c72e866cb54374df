import { parseConfig } from '../../../src/config/load';
import { isTidemarkError } from '../../../src/core/errors';

const env = { PG: 'postgres://tm:pw@db/app', CATALOG_TOKEN: 'tok-123', CATALOG_CREDENTIAL: 'client:s3cret' };
const withCatalog = (catalog: string) => `
pipeline: shop
source: { url: \${PG}, tables: [public.orders] }
log: { kind: embedded }
offsets: { kind: file, path: /tmp/offsets }
sinks:
  iceberg:
    location: /tmp/lake
    catalog: ${catalog}
`;

describe('config: sinks.iceberg.catalog of kind rest', () => {
  it('fills the defaults and keeps the token and the client credential as Secrets', () => {
    const c = parseConfig(
      withCatalog(
        '{ kind: rest, url: "http://cat:8181", warehouse: wh, token: ${CATALOG_TOKEN}, credential: ${CATALOG_CREDENTIAL} }',
      ),
      env,
    );
    const cat = c.sinks.iceberg!.catalog;
    if (cat.kind !== 'rest') throw new Error('expected a rest catalog');
    expect(cat).toMatchObject({
      url: 'http://cat:8181',
      warehouse: 'wh',
      scope: 'catalog',
      allowNonAtomicCommits: false,
    });
    expect(cat.requestTimeoutMs).toBeGreaterThan(0);
    expect(cat.token?.reveal()).toBe('tok-123');
    expect(cat.credential?.reveal()).toBe('client:s3cret');
    expect(JSON.stringify(c)).not.toContain('s3cret');
  });

  it.each([
    [
      '{ kind: rest, url: "http://cat:8181", token: plain-token }',
      /"sinks\.iceberg\.catalog\.token" is written in the file/,
    ],
    [
      '{ kind: rest, url: "http://cat:8181", credential: "a:b" }',
      /"sinks\.iceberg\.catalog\.credential" is written/,
    ],
    ['{ kind: rest, url: "http://cat:8181", surprise: 1 }', /unknown key\(s\) "surprise"/],
  ])('refuses %s', (catalog, pattern) => {
    let message = '';
    try {
      parseConfig(withCatalog(catalog), env);
    } catch (e) {
      if (!isTidemarkError(e, 'config')) throw e;
      message = e.message;
    }
    expect(message).toMatch(pattern);
  });
});
