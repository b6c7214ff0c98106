// What the receiver does with a verified event: tell the user. A notifier is any object with
// `notify(notification)`; the default prints an email-like message. A deployment plugs in its own
// (an email service, a push service, a queue) — looking up the user's address by `userId`, the `sub`
// the issuer knows them by.

/**
 * @typedef {object} Notification
 * @property {string} userId the account's `sub` at the issuer (from the SET's `sub_id`)
 * @property {string} eventType the event type URI
 * @property {string} title one line, like an email subject
 * @property {string} text what happened and what to do, for the user
 * @property {string} jti the SET's id (for support: it names the event without revealing anything)
 * @property {string} txn the cause's id: the SETs of one cause (a disabled account and its sessions) share it
 * @property {string} [sessionId] the session concerned, when the event is about one
 */

/**
 * The default notifier: one email-like message per notification on `write` (stdout). It holds no
 * secret: never the SET itself, only what it says.
 *
 * @param {(text: string) => void} [write]
 * @returns {{ notify(notification: Notification): Promise<void> }}
 */
export function consoleNotifier(write = (text) => process.stdout.write(text)) {
  return {
    async notify(notification) {
      write(
        [
          `To: user ${notification.userId}`,
          `Subject: ${notification.title}`,
          `X-Security-Event: ${notification.eventType} (${notification.jti})`,
          '',
          notification.text,
          '',
          '',
        ].join('\n'),
      );
    },
  };
}
