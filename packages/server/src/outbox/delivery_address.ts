import { BlockList, isIP, type LookupFunction } from 'node:net';

/** Where delivery may connect, decided once per process from the configuration. */
export interface DeliveryAddressPolicy {
  /** Private ranges (RFC 1918, CGNAT, IPv6 ULA) allowed: deliveries to an intranet's own apps. */
  allowPrivateNetworks: boolean;
}

/**
 * Ranges never reached: link-local (169.254.0.0/16, where clouds serve instance metadata and
 * credentials; fe80::/10), unspecified, "this network", multicast and broadcast. A receiver's URI is
 * whatever a client registered, so without this a delivery is a request from inside the server's
 * network to an address of the registrant's choosing (SSRF).
 */
const NEVER = new BlockList();
NEVER.addSubnet('0.0.0.0', 8, 'ipv4');
NEVER.addSubnet('169.254.0.0', 16, 'ipv4');
NEVER.addSubnet('224.0.0.0', 4, 'ipv4');
NEVER.addSubnet('240.0.0.0', 4, 'ipv4');
NEVER.addAddress('::', 'ipv6');
NEVER.addSubnet('fe80::', 10, 'ipv6');
NEVER.addSubnet('ff00::', 8, 'ipv6');

/** Private ranges (RFC 1918, RFC 6598 CGNAT, RFC 4193 ULA): refused unless the operator allows them. */
const PRIVATE = new BlockList();
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');
PRIVATE.addSubnet('100.64.0.0', 10, 'ipv4');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** The IPv4 address inside an IPv4-mapped IPv6 one (::ffff:10.0.0.1), so it meets the IPv4 rules. */
function unmapped(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^(?:0{0,4}:){0,4}:?(?:0{0,4}:)?ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  // The same, as the URL parser writes it: ::ffff:c0a8:101.
  const hex = /^(?:0{0,4}:){0,4}:?(?:0{0,4}:)?ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hex) {
    const high = Number.parseInt(hex[1]!, 16);
    const low = Number.parseInt(hex[2]!, 16);
    return { address: `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`, family: 'ipv4' };
  }
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

/** A registered host that names this machine: a loopback literal or `localhost` (development). */
export function isLoopbackName(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  if (isIP(bare) === 0) return false;
  const { address, family } = unmapped(bare);
  return LOOPBACK.check(address, family);
}

/**
 * Why delivery must not connect to `ip` for a URI whose host is `host`, or undefined when it may.
 * Loopback is reached only when the registered host is itself loopback (what registration allows
 * plain http for): a public name that resolves to 127.0.0.1 is refused.
 */
export function deliveryAddressProblem(
  ip: string,
  host: string,
  policy: DeliveryAddressPolicy,
): string | undefined {
  const { address, family } = unmapped(ip.replace(/^\[|\]$/g, ''));
  if (NEVER.check(address, family)) return `a link-local, multicast or unspecified address (${address})`;
  if (LOOPBACK.check(address, family))
    return isLoopbackName(host) ? undefined : `a loopback address for a non-loopback host (${address})`;
  if (!policy.allowPrivateNetworks && PRIVATE.check(address, family))
    return `a private network address (${address}; see deliveryAllowPrivateNetworks)`;
  return undefined;
}

/** Thrown through a connection attempt that was refused before it was made. */
export class DeliveryAddressRefused extends Error {
  readonly code = 'ERR_DELIVERY_ADDRESS_REFUSED';
}

/**
 * A `lookup` for node:http(s) that resolves with `resolve` and refuses the connection (before it is
 * made) when any address found is refused: checked at connect time, on the addresses actually used,
 * so a name that resolved somewhere harmless at registration cannot be pointed elsewhere later.
 */
export function guardedLookup(
  resolve: LookupFunction,
  host: string,
  policy: DeliveryAddressPolicy,
): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, found) => {
      if (err) return (callback as (e: Error) => void)(err);
      const addresses = (Array.isArray(found) ? found : [{ address: found as string, family: 0 }]) as {
        address: string;
        family: number;
      }[];
      for (const { address } of addresses) {
        const problem = deliveryAddressProblem(address, host, policy);
        if (problem) return (callback as (e: Error) => void)(new DeliveryAddressRefused(problem));
      }
      if (options.all) return (callback as (e: null, a: typeof addresses) => void)(null, addresses);
      const [first] = addresses;
      if (!first)
        return (callback as (e: Error) => void)(
          Object.assign(new Error('no address'), { code: 'ENOTFOUND' }),
        );
      (callback as (e: null, a: string, f: number) => void)(null, first.address, first.family);
    });
  };
}
