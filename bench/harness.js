// The measuring harness shared by the benchmark suites: slices, interleaved rounds, median ratios.
import os from 'node:os';

export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
export const SLICE_MS = Number(process.env.BENCH_SLICE_MS ?? 120);

export function machine() {
  return {
    node: process.version,
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    rounds: ROUNDS,
    sliceMs: SLICE_MS,
  };
}

/** Runs `fn` for about SLICE_MS and returns operations per second. */
async function slice(fn) {
  const probe = fn();
  const isAsync = probe instanceof Promise;
  if (isAsync) await probe;
  let ops = 0;
  let batch = 16;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(SLICE_MS * 1e6);
  let now = start;
  while (now < deadline) {
    if (isAsync) for (let i = 0; i < batch; i++) await fn();
    else for (let i = 0; i < batch; i++) fn();
    ops += batch;
    now = process.hrtime.bigint();
    if (batch < 4096) batch *= 2;
  }
  return ops / (Number(now - start) / 1e9);
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Interleaves the contenders round by round; returns per-contender ops/s medians and ratio medians. */
export async function measure(group, baselineName) {
  const names = Object.keys(group);
  const perRound = Object.fromEntries(names.map((n) => [n, []]));
  for (const name of names) await slice(group[name]); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order each round so no contender always runs right after the same one.
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order) perRound[name].push(await slice(group[name]));
  }
  const baseline = perRound[baselineName];
  return names.map((name) => ({
    name,
    opsPerSecond: median(perRound[name]),
    ratio: median(perRound[name].map((ops, i) => ops / baseline[i])),
    samples: perRound[name],
  }));
}

/** Median over rounds of a's ops/s divided by b's, both measured in the same round. */
export function ratioOf(rows, a, b) {
  const x = rows.find((r) => r.name === a)?.samples;
  const y = rows.find((r) => r.name === b)?.samples;
  return x && y ? median(x.map((ops, i) => ops / y[i])) : undefined;
}

function fmtOps(n) {
  return Math.round(n).toLocaleString('en-US');
}

export function table(title, rows, baselineName) {
  console.log(`\n${title} (ratio = median per-round ops/s ratio against ${baselineName})`);
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const row of rows) {
    console.log(
      `  ${row.name.padEnd(width)}  ${fmtOps(row.opsPerSecond).padStart(11)} ops/s  ${row.ratio.toFixed(2).padStart(6)}×`,
    );
  }
}
