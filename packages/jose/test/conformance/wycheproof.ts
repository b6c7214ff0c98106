// The harness shared by the Project Wycheproof conformance files (wycheproof-*.test.ts): loading a
// vector file, the tally of each file and its summary line, the documented-exceptions lookup and its
// self-check, and, for the JOSE-level files, key import, JSON serialization detection and verdicts.
// No `.test.` in the name: vitest does not run this file on its own.

import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import {
  type AnyJoseError,
  createLocalJwks,
  importJwk,
  type JoseErrorCode,
  type JsonWebKeySet,
  type Key,
  type LocalJwks,
} from '../../src/index.js';

export type Result = 'valid' | 'invalid' | 'acceptable';

/** What every Wycheproof test case has. */
export interface VectorTest {
  tcId: number;
  comment: string;
  flags: string[];
  result: Result;
}

export interface VectorFile<Group extends { tests: VectorTest[] }> {
  numberOfTests: number;
  testGroups: Group[];
}

export function loadVectors<File>(file: string): File {
  const url = new URL(`../vectors/wycheproof/testvectors_v1/${file}`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as File;
}

/** The `it` title of a case: tcId, Wycheproof's result, comment and flags. */
export function caseTitle(test: VectorTest): string {
  const flags = test.flags.length > 0 ? ` [${test.flags.join(', ')}]` : '';
  return `tcId ${test.tcId} ${test.result}: ${test.comment}${flags}`;
}

// ---------------------------------------------------------------------------------------------

/** What every file counts; each file adds its own counters. */
export interface Tally {
  run: number;
  passed: number;
  exceptions: number;
  acceptableAccepted: number;
  acceptableRejected: number;
}

export function newTally(): Tally {
  return { run: 0, passed: 0, exceptions: 0, acceptableAccepted: 0, acceptableRejected: 0 };
}

/** Records how an `acceptable` case went. */
export function countAcceptable(tally: Tally, accepted: boolean): void {
  if (accepted) tally.acceptableAccepted++;
  else tally.acceptableRejected++;
}

/**
 * Logs `[wycheproof] <file>: N run, P passed as Wycheproof says, E documented exceptions`, then the
 * acceptable outcomes (when there were any) and `extras`, each after ", ", then `tail` as it is.
 */
export function logSummary(file: string, tally: Tally, extras: readonly string[] = [], tail = ''): void {
  const parts = [
    `[wycheproof] ${file}: ${tally.run} run, ${tally.passed} passed as Wycheproof says, ` +
      `${tally.exceptions} documented exceptions`,
  ];
  if (tally.acceptableAccepted + tally.acceptableRejected > 0)
    parts.push(`acceptable: ${tally.acceptableAccepted} accepted / ${tally.acceptableRejected} rejected`);
  console.log(parts.concat(extras).join(', ') + tail);
}

// ---------------------------------------------------------------------------------------------

/** What every documented exception says: the case, and what Wycheproof expects of it. */
export interface DocumentedExceptionBase {
  readonly tcId: number;
  /** What Wycheproof says. */
  readonly wycheproof: Result;
  readonly why: string;
}

/** The documented exceptions of one file, by tcId. */
export function exceptionsByTcId<E extends DocumentedExceptionBase>(entries: readonly E[]): Map<number, E> {
  return new Map(entries.map((entry) => [entry.tcId, entry]));
}

/**
 * The self-check of a file's documented exceptions: the file has as many cases as it says, and each
 * exception names exactly one case, which passes `check` and has the result the exception quotes.
 */
export function expectExceptionsNameCases<Group extends { tests: VectorTest[] }>(
  vectors: VectorFile<Group>,
  entries: Iterable<DocumentedExceptionBase>,
  check: (found: { group: Group; test: Group['tests'][number] }, entry: DocumentedExceptionBase) => void,
): void {
  const all = vectors.testGroups.flatMap((group) => group.tests);
  expect(all.length).toBe(vectors.numberOfTests);
  for (const entry of entries) {
    const found = vectors.testGroups.flatMap((group) =>
      group.tests.filter((test) => test.tcId === entry.tcId).map((test) => ({ group, test })),
    );
    expect(found, `tcId ${entry.tcId}`).toHaveLength(1);
    check(found[0]!, entry);
    expect(found[0]!.test.result, `tcId ${entry.tcId}: Wycheproof's result`).toBe(entry.wycheproof);
  }
}

// ---------------------------------------------------------------------------------------------
// The JOSE-level files (wycheproof-jose, wycheproof-jwe): keys and tokens through the public API.

/** A group of the JOSE-level files: its key (or key set) as JWK(s), and its cases. */
export interface JoseVectorGroup<Test extends VectorTest> {
  type: string;
  comment: string;
  private: Record<string, unknown>;
  public?: Record<string, unknown>;
  tests: Test[];
}

/** A case of the JOSE-level files where Tessera accepts or rejects, at `stage`, unlike Wycheproof. */
export interface JoseException<Stage extends string> extends DocumentedExceptionBase {
  /** What Tessera does. */
  readonly tessera: 'accepts' | 'rejects';
  /** For a rejection: where it happens and the error code. */
  readonly stage?: Stage;
  readonly code?: JoseErrorCode;
}

/** What the verdict of an exception's case must match. */
export function exceptionVerdict(exception: JoseException<string>): RegExp {
  return exception.tessera === 'accepts'
    ? /^accepted$/
    : new RegExp(`^rejected at ${exception.stage}: ${exception.code} `);
}

export type KeyMaterial = Key | LocalJwks;

/** A JWK, or a JWKS `{keys: [...]}`, imported with the library. */
export function importKeyMaterial(material: Record<string, unknown>): KeyMaterial {
  if (Array.isArray(material.keys)) return createLocalJwks(material as unknown as JsonWebKeySet);
  return importJwk(material);
}

/** The keys a JWKS left out (unsupported, too weak, malformed), with the library's reason. */
export function skippedKeys(key: KeyMaterial | undefined): string[] {
  return key !== undefined && 'skipped' in key
    ? key.skipped.map((entry) => `${entry.kid}: ${entry.reason}`)
    : [];
}

/**
 * The JSON serialization in a test's token: an object, or text that parses as one. `undefined` for
 * compact text, and for text that is not JSON (which then goes to the compact API to be judged).
 */
export function jsonSerialization<T>(token: string | Record<string, unknown>): T | undefined {
  if (typeof token !== 'string') return token as T;
  if (!token.trimStart().startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(token);
    return typeof parsed === 'object' && parsed !== null ? (parsed as T) : undefined;
  } catch {
    return undefined;
  }
}

export type JoseOutcome<Stage extends string, Accepted extends object = object> = {
  readonly skipped: readonly string[];
} & (
  | ({ readonly accepted: true } & Accepted)
  | { readonly accepted: false; readonly stage: Stage; readonly error: AnyJoseError }
);

/** The verdict, e.g. "accepted" or "rejected at verify: ERR_JWS_INVALID (...)". */
export function verdict(outcome: JoseOutcome<string>): string {
  return outcome.accepted
    ? 'accepted'
    : `rejected at ${outcome.stage}: ${outcome.error.code} (${outcome.error.message})`;
}

/** The verdict plus the keys the set left out, for assertion messages. */
export function details(outcome: JoseOutcome<string>): string {
  const skipped = outcome.skipped.length > 0 ? `; keys left out: ${outcome.skipped.join('; ')}` : '';
  return verdict(outcome) + skipped;
}
