import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { decodeJwtUnverified, verifyDpopProof } from '@tessera/jose';

/** What the API accepted: the proof's claims and the token's confirmation. */
export interface AcceptedProof {
  jkt: string;
  htm: string;
  htu: string;
  nonce: string | undefined;
  cnfJkt: unknown;
}

/**
 * A resource server that demands DPoP nonces (RFC 9449 §9): every proof is checked with
 * `@tessera/jose` (`htm`, `htu`, `ath` against the presented token, signature by the embedded key,
 * `jkt` against the token's `cnf.jkt`); a proof without the current nonce gets 401
 * `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a `DPoP-Nonce` header. It does not verify the
 * token's own signature (the guard's job; the server's are covered elsewhere).
 */
export async function startNonceApi(nonce: string): Promise<{
  url: string;
  requests: () => number;
  accepted: AcceptedProof[];
  close(): void;
}> {
  let requests = 0;
  const accepted: AcceptedProof[] = [];
  const server: Server = createServer((req, res) => {
    requests++;
    const refuse = (challenge: string) => {
      res.writeHead(401, { 'www-authenticate': challenge, 'dpop-nonce': nonce }).end();
    };
    try {
      const [scheme, token] = (req.headers.authorization ?? '').split(' ');
      if (scheme !== 'DPoP' || !token) return refuse('DPoP algs="ES256"');
      const cnf = decodeJwtUnverified(token).cnf as { jkt?: string } | undefined;
      const proof = verifyDpopProof(String(req.headers.dpop), {
        htm: req.method!,
        htu: urlOf(req),
        algorithms: ['ES256'],
        accessToken: token,
        ...(cnf?.jkt !== undefined ? { jkt: cnf.jkt } : {}),
      });
      if (proof.nonce !== nonce)
        return refuse('DPoP error="use_dpop_nonce", error_description="nonce required"');
      accepted.push({ jkt: proof.jkt, htm: proof.htm, htu: proof.htu, nonce: proof.nonce, cnfJkt: cnf?.jkt });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    } catch (err) {
      refuse(
        `DPoP error="invalid_dpop_proof", error_description="${(err as Error).message.replace(/"/g, "'")}"`,
      );
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  function urlOf(req: IncomingMessage): string {
    return `${url}${req.url}`;
  }
  return {
    url,
    requests: () => requests,
    accepted,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
