// Reads a V8 CPU profile (`.cpuprofile`, as node:inspector's Profiler.stop returns it) into where the
// time went: self time per function and per module, and total (inclusive) time of the project's own
// functions, as shares of the busy time (idle excluded).
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A module's name for the summary: the npm package, the Tessera package and file, or node's module. */
function moduleOf(url) {
  if (url === '') return '(native)';
  if (url.startsWith('node:')) return url;
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nodeModules = path.lastIndexOf('/node_modules/');
  if (nodeModules >= 0) {
    const [first, second] = path.slice(nodeModules + 14).split('/');
    return first?.startsWith('@') ? `${first}/${second}` : first;
  }
  return relative(ROOT, path);
}

function frameName(callFrame) {
  const name = callFrame.functionName || '(anonymous)';
  if (callFrame.url === '') return name;
  return `${name}  ${moduleOf(callFrame.url)}:${callFrame.lineNumber + 1}`;
}

/** VM entries such as (garbage collector), (program), (idle): no caller worth naming. */
const isVmEntry = (callFrame) => callFrame.url === '' && callFrame.functionName.startsWith('(');

const isProjectCode = (callFrame) => callFrame.url.includes('/packages/');

/** Self time per function and module, total time per project function, in ms and % of busy time. */
export function summarizeProfile(profile, top = 25) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node);
  /**
   * A native function (C++ binding: a signature, a SQLite statement, a socket write) has no script of
   * its own: it is named with the nearest JavaScript caller, which says what it was doing.
   */
  const callerOf = (id) => {
    let parent = parents.get(id);
    while (parent && parent.callFrame.url === '') parent = parents.get(parent.id);
    return parent?.callFrame;
  };
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  let idleUs = 0;
  let allUs = 0;
  const selfByFunction = new Map();
  const selfByModule = new Map();
  for (const [id, us] of selfUs) {
    const { callFrame } = nodes.get(id);
    allUs += us;
    if (callFrame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    let name = frameName(callFrame);
    let module = callFrame.url === '' ? callFrame.functionName : moduleOf(callFrame.url);
    if (callFrame.url === '' && !isVmEntry(callFrame)) {
      const caller = callerOf(id);
      name = `${callFrame.functionName || '(native)'} (native) ← ${caller ? frameName(caller) : '?'}`;
      module = `(native) ← ${caller ? moduleOf(caller.url) : '?'}`;
    }
    selfByFunction.set(name, (selfByFunction.get(name) ?? 0) + us);
    selfByModule.set(module, (selfByModule.get(module) ?? 0) + us);
  }
  // Total time: each node's subtree, counted once per function even when it recurses.
  const totalByFunction = new Map();
  const onStack = new Map();
  const subtree = (id) => {
    const node = nodes.get(id);
    const name = frameName(node.callFrame);
    const counted = isProjectCode(node.callFrame) && !onStack.get(name);
    if (counted) onStack.set(name, true);
    let us = selfUs.get(id) ?? 0;
    for (const child of node.children ?? []) us += subtree(child);
    if (counted) {
      onStack.set(name, false);
      totalByFunction.set(name, (totalByFunction.get(name) ?? 0) + us);
    }
    return us;
  };
  subtree(profile.nodes[0].id);
  const busyUs = allUs - idleUs;
  const rows = (map) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: us / busyUs }));
  return {
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    selfByFunction: rows(selfByFunction),
    selfByModule: rows(selfByModule),
    totalByFunction: rows(totalByFunction),
  };
}

export function printProfile(title, summary) {
  console.log(`\n${title}: ${Math.round(summary.busyMs)} ms busy, ${Math.round(summary.idleMs)} ms idle`);
  const print = (heading, rows) => {
    console.log(`  ${heading}`);
    for (const row of rows)
      console.log(
        `    ${(row.share * 100).toFixed(1).padStart(5)}%  ${String(Math.round(row.ms)).padStart(6)} ms  ${row.name}`,
      );
  };
  print('self time by module', summary.selfByModule.slice(0, 15));
  print('self time by function', summary.selfByFunction);
  print('total time of packages/ functions (including callees)', summary.totalByFunction);
}
