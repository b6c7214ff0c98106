import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../src/index.js';

describe('isLoopbackHost (where plain http is acceptable)', () => {
  it('is true for localhost, 127.0.0.0/8 and [::1], in any case', () => {
    for (const url of [
      'http://localhost:4000',
      'http://LOCALHOST',
      'http://127.0.0.1',
      'http://127.9.8.7:80',
      'http://[::1]:4000',
    ])
      expect(isLoopbackHost(new URL(url).hostname), url).toBe(true);
  });

  it('is false for any other host, including look-alikes', () => {
    for (const url of [
      'http://example.com',
      'http://10.0.0.1',
      'http://localhost.example.com',
      'http://127.0.0.1.nip.io',
      'http://[::2]',
      'http://0.0.0.0',
    ])
      expect(isLoopbackHost(new URL(url).hostname), url).toBe(false);
  });
});
