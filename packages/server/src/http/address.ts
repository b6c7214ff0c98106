import { isIPv4, isIPv6 } from 'node:net';

/**
 * The unit a per-address budget counts: an IPv4 address, or the /64 an IPv6 address belongs to (one
 * subscriber line is usually given a whole /64, so counting single IPv6 addresses would hand an
 * attacker 2^64 budgets). An IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2, `::ffff:192.0.2.1` or
 * `::ffff:c000:201`) counts as the IPv4 address. Anything that is not an IP address counts as itself.
 */
export function addressBucket(ip: string): string {
  const address = ip.split('%')[0] as string; // an IPv6 zone id (`fe80::1%eth0`) is not part of it
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return ip;
  const groups = ipv6Groups(address);
  const [g6 = 0, g7 = 0] = groups.slice(6);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff)
    return `${g6 >> 8}.${g6 & 255}.${g7 >> 8}.${g7 & 255}`;
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail as two groups). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  if (tail === undefined) return left.map((group) => Number.parseInt(group, 16));
  const right = tail ? tail.split(':') : [];
  const zeros = Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16));
}
