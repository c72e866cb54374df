import type { ClientConfig } from 'pg';

/**
 * Every source connection (normal, replication, snapshot) pins the settings that shape value
 * text, so that pgoutput and snapshot reads produce the same canonical values.
 */
export const SESSION_OPTIONS =
  '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c extra_float_digits=3 -c bytea_output=hex';

export function sourceClientConfig(url: string, applicationName: string): ClientConfig {
  return {
    connectionString: url,
    options: SESSION_OPTIONS,
    application_name: applicationName,
    keepAlive: true,
  };
}

export function databaseOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'postgres';
}
