export {
  type BrokerMessage,
  encodeBrokerHeartbeat,
  encodeBrokerRevocation,
  MAX_BROKER_MESSAGE_BYTES,
  parseBrokerMessage,
} from './revocation/broker_message.js';
export {
  checkedEntry,
  isRevocationKind,
  MAX_VALUE_LENGTH,
  REVOCATION_KINDS,
  type RevocationEntry,
  type RevocationKind,
} from './revocation/entry.js';
export { parseStreamFields, STREAM_FIELDS, streamFields } from './revocation/redis_stream.js';
export { createRevocationSet, type RevocableToken, type RevocationSet } from './revocation/set.js';
export {
  encodeComment,
  encodeRevocationEvent,
  HEARTBEAT,
  parseRevocationData,
  REVOCATION_EVENT,
  SNAPSHOT_COMPLETE,
} from './revocation/sse.js';
