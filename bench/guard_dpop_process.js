// The API of the guard DPoP benchmark, in its own process (one core): Fastify with one handler on
// four routes behind @tessera/guard's preHandler, all with `dpop` enabled and the same key set:
//   /bearer       a Bearer token (the guard's usual path: token cache hit, principal, revocations)
//   /dpop         a DPoP-bound token and a DPoP proof (the same, plus one proof verification)
//   /dpop-replay  the same with `replay: 'memory'` (plus one set lookup and insert per proof)
//   /bearer-verify  /bearer, whose handler also makes one raw node:crypto ES256 verification: the
//                   physical floor of DPoP, paid where a request pays it (amid the HTTP stack)
// and /floor?n=…, which times n raw ES256 verifications in a tight loop on this core. Configured by
// environment; prints one JSON line ({ url }).
//   GUARD_ISSUER, GUARD_AUDIENCE, GUARD_JWKS   the issuer, this API's audience, the JWKS URL
import { createSign, createVerify, generateKeyPairSync, verify } from 'node:crypto';
import { createGuard } from '@tessera/guard';
import { requireAuth, tesseraGuard } from '@tessera/guard/fastify';
import Fastify from 'fastify';

const common = {
  issuer: process.env.GUARD_ISSUER,
  audience: process.env.GUARD_AUDIENCE,
  jwksUri: process.env.GUARD_JWKS,
  algorithms: ['ES256'],
  // The benchmark isolates DPoP: both guards skip revocations alike (three map lookups per request).
  revocations: 'off',
};
// The bench's htu is the loopback URL it calls: the Host header is right, no publicUrl needed.
const guard = createGuard({ ...common, dpop: true });
const replayGuard = createGuard({ ...common, dpop: { replay: 'memory' } });
await Promise.all([guard.ready(), replayGuard.ready()]);

const app = Fastify({ logger: false });
await app.register(tesseraGuard, { guard });
const handler = async (request) => ({ ok: true, sub: request.auth?.sub ?? null });
app.get('/bearer', { preHandler: requireAuth(guard) }, handler);
app.get('/dpop', { preHandler: requireAuth(guard) }, handler);
app.get('/dpop-replay', { preHandler: requireAuth(replayGuard) }, handler);
app.get('/cpu', async () => process.cpuUsage());

// One ES256 signature over a proof-sized signing input, verified n times as a proof is: a P-256
// public key, SHA-256, IEEE P1363 (r‖s) signature. No import, no parsing: the bare primitive.
const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const input = Buffer.from('e'.repeat(420));
const signature = createSign('sha256').update(input).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' });
if (!createVerify('sha256').update(input).verify({ key: publicKey, dsaEncoding: 'ieee-p1363' }, signature))
  throw new Error('the floor signature does not verify');
// CPU time, as the routes are charged: on a shared machine wall time would count other processes'
// turns on this core.
app.get('/bearer-verify', { preHandler: requireAuth(guard) }, async (request) => {
  if (!verify('sha256', input, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature))
    throw new Error('the floor signature does not verify');
  return { ok: true, sub: request.auth?.sub ?? null };
});
app.get('/floor', async (request) => {
  const n = Number(request.query.n ?? 20_000);
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++)
    verify('sha256', input, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  const used = process.cpuUsage(start);
  return { microseconds: (used.user + used.system) / n };
});

const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ url })}\n`);
process.on('SIGTERM', async () => {
  await app.close();
  await Promise.all([guard.close(), replayGuard.close()]);
  process.exit(0);
});
