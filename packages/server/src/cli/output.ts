/**
 * What the commands print: colour for a person at a terminal, never in a pipe or a file or with
 * NO_COLOR; JSON instead of text with `--json`.
 */
const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
export const bold = paint(1);
export const dim = paint(2);
export const green = paint(32);
export const red = paint(31);
export const yellow = paint(33);

export interface Output {
  json: boolean;
  /** One result: `value` as one JSON line with `--json`, else `text`. */
  print(value: unknown, text: string): void;
  /** A remark for a person (stderr, text mode only): never part of what a script reads. */
  note(text: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    print(value, text) {
      process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
    },
    note(text) {
      if (!json) process.stderr.write(`${text}\n`);
    },
  };
}
