// Runs the receiver: `node server.js`, configured by the environment (see README.md).
import { createReceiver } from './receiver.js';

const receiver = createReceiver({
  issuer: process.env.TESSERA_ISSUER ?? 'http://127.0.0.1:4000',
  audience: process.env.RECEIVER_AUDIENCE ?? 'urn:example:security-events',
  ...(process.env.RECEIVER_BEARER_TOKEN ? { bearerToken: process.env.RECEIVER_BEARER_TOKEN } : {}),
});
const url = await receiver.listen(Number(process.env.PORT ?? 4200), process.env.HOST ?? '127.0.0.1');
process.stdout.write(`receiving security events at ${url}\n`);
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void receiver.close());
