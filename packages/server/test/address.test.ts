import { describe, expect, it } from 'vitest';
import { addressBucket } from '../src/http/address.js';

describe('the per-address unit (login limits, revocation stream caps)', () => {
  it('is an IPv4 address itself', () => {
    expect(addressBucket('192.0.2.7')).toBe('192.0.2.7');
  });

  it('is the /64 of an IPv6 address, however it is written', () => {
    const bucket = '2001:db8:85a3:8d3::/64';
    for (const ip of [
      '2001:db8:85a3:8d3:1319:8a2e:370:7348',
      '2001:0db8:85a3:08d3::1',
      '2001:DB8:85A3:8D3::',
      '2001:db8:85a3:8d3:ffff:ffff:ffff:ffff%eth0',
    ])
      expect(addressBucket(ip), ip).toBe(bucket);
    expect(addressBucket('2001:db8:85a3:8d4::1')).not.toBe(bucket);
    expect(addressBucket('::1')).toBe('0:0:0:0::/64');
    expect(addressBucket('1::2:3:4:5:6.7.8.9')).toBe('1:0:2:3::/64');
  });

  it('is the IPv4 address of an IPv4-mapped IPv6 address, dotted or in hex', () => {
    expect(addressBucket('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(addressBucket('::FFFF:c000:201')).toBe('192.0.2.1');
    expect(addressBucket('0:0:0:0:0:ffff:192.0.2.1')).toBe('192.0.2.1');
  });

  it('is whatever else it was given, when that is not an IP address', () => {
    expect(addressBucket('unknown')).toBe('unknown');
  });
});
