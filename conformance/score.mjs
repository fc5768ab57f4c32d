#!/usr/bin/env node
// Score an http-cache-tests results file (test id -> true | [kind, message])
// the same way the suite's own results page does (lib/display.mjs,
// determineTestResult): a test passes only if its result is `true` and every
// test it `depends_on` passes too (recursively). Tests without a `kind` are
// `required`; the others are `optimal` or `check`. Browser-only tests are not
// run by the command-line client, so they are left out of every total.
//
// Usage:
//   node conformance/score.mjs RESULTS.json [--failing] [--peers] [--groups]
//        [--summary-file FILE] [--suite-dir DIR]
//
//   --failing        also list every failing test (all kinds): id, kind, name, reason
//   --peers          with --failing / for failing required tests, say which of the
//                    reverse proxies whose results ship with the suite pass the test
//   --groups         also print a per-group table comparing edgecache's pass counts
//                    with those of the same bundled peers (scored the same way), mark
//                    the groups where a peer does better (required / optimal), and
//                    list those groups with the test ids the best peer passes
//   --summary-file   write the one-line summary to FILE instead of printing it
//   --suite-dir      where http-cache-tests is installed
//                    (default: node_modules/http-cache-tests next to this script)
//   --peer-set       npm (default) or current: which published peer scores the
//                    summary line quotes (the npm release's or the current suite's)
//
// Baseline modes (used by run.sh; they print only the baseline report):
//   --compare-baseline FILE   exit 1 if a test id that is `true` in FILE is not
//                             `true` in RESULTS; list improvements too
//   --write-baseline FILE     write {id: true} for every passing (raw `true`)
//                             result, keys sorted, as the new baseline

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const SUITE_VERSION = '0.4.5'
const KINDS = ['required', 'optimal', 'check']
// Published results of peer proxies on http-cache-tests@0.4.5
// (required / optimal / checks passed; their totals were 168 / 97 / 90
// because they counted the browser-only tests, which the CLI never runs).
const PEERS = [
  ['ATS', 126],
  ['HAProxy', 96],
  ['nginx', 94],
  ['httpd', 74]
]
// The same peers measured on the current suite (cache-tests.fyi, snapshot
// b55b8bd; ../shared/conformance/peers.md), out of 163 required.
const PEERS_CURRENT = [
  ['ATS', 134],
  ['httpd', 131],
  ['Squid', 121],
  ['Varnish', 119],
  ['nginx', 100]
]

function usage (msg) {
  if (msg) console.error(`score.mjs: ${msg}`)
  console.error('usage: node score.mjs RESULTS.json [--failing] [--peers] [--groups] [--summary-file FILE] [--suite-dir DIR]\n' +
    '       node score.mjs RESULTS.json --compare-baseline FILE | --write-baseline FILE')
  process.exit(2)
}

const here = path.dirname(fileURLToPath(import.meta.url))
const opts = { failing: false, peers: false, groups: false, summaryFile: null, peerSet: 'npm', compareBaseline: null, writeBaseline: null, suiteDir: path.join(here, 'node_modules', 'http-cache-tests'), results: null }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  if (a === '--failing') opts.failing = true
  else if (a === '--peers') opts.peers = true
  else if (a === '--groups') opts.groups = true
  else if (a === '--summary-file') opts.summaryFile = argv[++i] ?? usage('--summary-file needs a value')
  else if (a === '--peer-set') opts.peerSet = argv[++i] ?? usage('--peer-set needs a value')
  else if (a === '--suite-dir') opts.suiteDir = argv[++i] ?? usage('--suite-dir needs a value')
  else if (a === '--compare-baseline') opts.compareBaseline = argv[++i] ?? usage('--compare-baseline needs a file')
  else if (a === '--write-baseline') opts.writeBaseline = argv[++i] ?? usage('--write-baseline needs a file')
  else if (a === '-h' || a === '--help') usage()
  else if (a.startsWith('-')) usage(`unknown option ${a}`)
  else if (opts.results === null) opts.results = a
  else usage(`unexpected argument ${a}`)
}
if (opts.results === null) usage('no results file given')
if (!['npm', 'current'].includes(opts.peerSet)) usage(`--peer-set must be npm or current, not ${opts.peerSet}`)

const suiteDir = path.resolve(opts.suiteDir)
if (!fs.existsSync(path.join(suiteDir, 'tests', 'index.mjs'))) {
  console.error(`score.mjs: http-cache-tests not found in ${suiteDir}; run 'npm ci' in ${here}`)
  process.exit(2)
}
const suitePkg = JSON.parse(fs.readFileSync(path.join(suiteDir, 'package.json'), 'utf8'))
if (opts.peerSet === 'npm' && suitePkg.version !== SUITE_VERSION) {
  console.error(`score.mjs: warning: installed http-cache-tests is ${suitePkg.version}, peers are for ${SUITE_VERSION}`)
}

// Same test list as the suite's cli.mjs: tests/index.mjs, plus Surrogate-Control
// in the npm release (whose cli.mjs adds it; the current suite has no such file).
const suiteUrl = f => pathToFileURL(path.join(suiteDir, f)).href
const testSuites = [...(await import(suiteUrl('tests/index.mjs'))).default]
if (fs.existsSync(path.join(suiteDir, 'tests', 'surrogate-control.mjs'))) {
  testSuites.push((await import(suiteUrl('tests/surrogate-control.mjs'))).default)
}

let results
try {
  results = JSON.parse(fs.readFileSync(opts.results, 'utf8'))
} catch (err) {
  console.error(`score.mjs: cannot read results from ${opts.results}: ${err.message}`)
  process.exit(2)
}
if (results === null || typeof results !== 'object' || Array.isArray(results)) {
  console.error(`score.mjs: ${opts.results} is not a JSON object of test results`)
  process.exit(2)
}

// ---------------------------------------------------------------- baseline modes
// The baseline holds the raw results that were `true` ({id: true}, sorted), so
// a regression is any id that was `true` there and is not `true` now.
if (opts.writeBaseline !== null) {
  const passing = {}
  for (const id of Object.keys(results).sort()) if (results[id] === true) passing[id] = true
  fs.writeFileSync(opts.writeBaseline, JSON.stringify(passing, null, 2) + '\n')
  console.log(`wrote ${Object.keys(passing).length} passing ids to ${opts.writeBaseline}`)
  process.exit(0)
}
if (opts.compareBaseline !== null) {
  let baseline
  try {
    baseline = JSON.parse(fs.readFileSync(opts.compareBaseline, 'utf8'))
  } catch (err) {
    console.error(`score.mjs: cannot read baseline ${opts.compareBaseline}: ${err.message}`)
    process.exit(2)
  }
  const was = id => baseline[id] === true
  const regressions = Object.keys(baseline).filter(id => was(id) && results[id] !== true).sort()
  const improvements = Object.keys(results).filter(id => results[id] === true && !was(id)).sort()
  const reason = r => r === undefined ? 'no result' : Array.isArray(r) ? `${r[0]}: ${r[1]}` : JSON.stringify(r)
  if (improvements.length) {
    console.log(`baseline: ${improvements.length} test(s) pass now that did not pass in the baseline:`)
    for (const id of improvements) console.log(`  + ${id}`)
    console.log('baseline: update it with: conformance/run.sh --update-baseline')
  }
  if (regressions.length) {
    console.log(`baseline: REGRESSION: ${regressions.length} test(s) passed in the baseline and do not pass now:`)
    for (const id of regressions) console.log(`  - ${id}  (${reason(results[id])})`)
    process.exit(1)
  }
  console.log(`baseline: no regressions (${Object.keys(baseline).filter(was).length} baseline passes still pass)`)
  process.exit(0)
}

// ---------------------------------------------------------------- scoring
const testById = new Map()
for (const suite of testSuites) {
  for (const test of suite.tests) testById.set(test.id, { test, suite })
}

function kindOf (test) {
  return test.kind === undefined ? 'required' : test.kind
}

// Mirrors lib/display.mjs determineTestResult (with honorDependencies).
function classify (res, id, memo = new Map()) {
  if (memo.has(id)) return memo.get(id)
  memo.set(id, { status: 'dependency', detail: `dependency cycle at ${id}` })
  const entry = testById.get(id)
  let out
  const r = res[id]
  if (entry === undefined) {
    out = { status: 'untested', detail: 'unknown test id' }
  } else if (r === undefined) {
    out = { status: 'untested', detail: 'no result (not run)' }
  } else {
    for (const dep of entry.test.depends_on || []) {
      if (classify(res, dep, memo).status !== 'pass') {
        out = { status: 'dependency', detail: `depends on ${dep}, which did not pass` }
        break
      }
    }
    if (out === undefined) {
      if (r === true) out = { status: 'pass', detail: '' }
      else if (Array.isArray(r) && r[0] === 'Setup') {
        out = r[1] === 'retry'
          ? { status: 'retry', detail: 'the cache retried a request (origin saw a Req-Num twice)' }
          : { status: 'setup', detail: `setup: ${r[1]}` }
      } else if (Array.isArray(r) && r[0] === 'Assertion') out = { status: 'fail', detail: r[1] }
      else out = { status: 'harness', detail: Array.isArray(r) ? `${r[0]}: ${r[1]}` : JSON.stringify(r) }
    }
  }
  memo.set(id, out)
  return out
}

function score (res) {
  const memo = new Map()
  const groups = []
  const totals = Object.fromEntries(KINDS.map(k => [k, { pass: 0, total: 0 }]))
  const failing = []
  for (const suite of testSuites) {
    const g = { id: suite.id, name: suite.name, counts: Object.fromEntries(KINDS.map(k => [k, { pass: 0, total: 0 }])) }
    for (const test of suite.tests) {
      if (test.browser_only === true) continue // never run against a proxy
      const kind = kindOf(test)
      const c = classify(res, test.id, memo)
      g.counts[kind].total++
      totals[kind].total++
      if (c.status === 'pass') {
        g.counts[kind].pass++
        totals[kind].pass++
      } else {
        failing.push({ id: test.id, kind, name: test.name, group: suite.id, ...c })
      }
    }
    groups.push(g)
  }
  return { groups, totals, failing }
}

const { groups, totals, failing } = score(results)

// Optional: which of the peer proxies bundled with the suite pass a test.
let peerResults = []
if (opts.peers || opts.groups) {
  try {
    const index = (await import(suiteUrl('results/index.mjs'))).default
    for (const item of index) {
      if (item.type !== 'rev-proxy') continue
      const file = path.join(suiteDir, 'results', item.file)
      if (!fs.existsSync(file)) continue
      const res = JSON.parse(fs.readFileSync(file, 'utf8'))
      const memo = new Map()
      peerResults.push({ name: `${item.name}`, version: item.version, file: item.file, res, passes: id => classify(res, id, memo).status === 'pass' })
    }
  } catch (err) {
    console.error(`score.mjs: cannot load bundled peer results: ${err.message}`)
    peerResults = []
  }
}
const passedBy = id => peerResults.filter(p => p.passes(id)).map(p => p.name)

const known = new Set(testById.keys())
const unknownIds = Object.keys(results).filter(id => !known.has(id))
const ran = Object.keys(results).filter(id => known.has(id)).length

const fmt = c => `${String(c.pass).padStart(3)}/${String(c.total).padEnd(3)}`
const nameWidth = Math.max(...groups.map(g => g.name.length), 5)
console.log(`http-cache-tests@${suitePkg.version}: ${ran} results in ${opts.results} (browser-only tests excluded)`)
console.log('')
console.log(`${'group'.padEnd(nameWidth)}  required  optimal   check`)
for (const g of groups) {
  console.log(`${g.name.padEnd(nameWidth)}  ${fmt(g.counts.required)}   ${fmt(g.counts.optimal)}   ${fmt(g.counts.check)}`)
}
console.log(`${'TOTAL'.padEnd(nameWidth)}  ${fmt(totals.required)}   ${fmt(totals.optimal)}   ${fmt(totals.check)}`)
if (unknownIds.length) console.log(`\nwarning: ${unknownIds.length} result ids are not in the suite: ${unknownIds.join(', ')}`)
const notRun = failing.filter(f => f.status === 'untested')
if (notRun.length) console.log(`\nwarning: ${notRun.length} tests have no result (the run was incomplete?)`)

const failingRequired = failing.filter(f => f.kind === 'required')
console.log(`\nFailing required tests (${failingRequired.length}):`)
for (const f of failingRequired) {
  const peers = opts.peers ? `  [passed by: ${passedBy(f.id).join(', ') || 'none'}]` : ''
  console.log(`  ${f.id} - ${f.name}${peers}`)
  console.log(`      ${f.status}: ${f.detail}`)
}

if (opts.failing) {
  console.log(`\nAll failing tests (${failing.length}):`)
  for (const f of failing) {
    const peers = opts.peers ? `\t[passed by: ${passedBy(f.id).join(', ') || 'none'}]` : ''
    console.log(`${f.id}\t${f.kind}\t${f.status}\t${f.name}\t${f.detail}${peers}`)
  }
}

if (opts.groups) printGroupComparison()

const peerText = (opts.peerSet === 'npm' ? PEERS : PEERS_CURRENT).map(([n, v]) => `${n} ${v}`).join(', ')
const peerSuite = opts.peerSet === 'npm' ? `http-cache-tests@${SUITE_VERSION}` : 'the current suite'
const summary = `edgecache: required ${totals.required.pass}/${totals.required.total}, ` +
  `optimal ${totals.optimal.pass}/${totals.optimal.total}, ` +
  `checks ${totals.check.pass}/${totals.check.total} ` +
  `(peers on ${peerSuite}: ${peerText} required)`
if (opts.summaryFile) {
  fs.writeFileSync(opts.summaryFile, summary + '\n') // run.sh prints it last
} else {
  console.log('')
  console.log(summary)
}

// ---------------------------------------------------------------- --groups
// Short group names so the comparison table fits in ~160 columns.
function shortGroupName (g) {
  const SHORT = {
    'cc-freshness': 'CC Freshness',
    'cc-parse': 'CC Parsing',
    'cc-response': 'CC Response Directives',
    'cc-request': 'CC Request Directives',
    method: 'Method-related',
    'conditional-lm': 'Cond: IMS / Last-Modified',
    'conditional-inm': 'Cond: INM / ETag',
    auth: 'Authenticated Requests',
    other: 'Other Requirements'
  }
  const n = SHORT[g.id] ?? g.name
  return n.length > 26 ? n.slice(0, 25) + '~' : n
}

function printGroupComparison () {
  console.log('')
  if (peerResults.length === 0) {
    console.log('Per-group comparison: no bundled peer results could be loaded.')
    return
  }
  const peers = peerResults.map(p => ({ ...p, scored: score(p.res) }))
  const proxyIds = [...testById.values()].filter(e => e.test.browser_only !== true).map(e => e.test.id)
  console.log(`Per-group comparison with the peer results bundled in the npm package http-cache-tests@${suitePkg.version}`)
  console.log(`(${path.relative(process.cwd(), path.join(suiteDir, 'results')) || '.'}/, reverse proxies listed in results/index.mjs):`)
  let line = ' '
  for (const [i, p] of peers.entries()) {
    const item = ` ${p.name} ${p.version} (${p.file})${i < peers.length - 1 ? ',' : ''}`
    if (line.length + item.length > 110) { console.log(line); line = ' ' }
    line += item
  }
  console.log(line)
  console.log('These are the results shipped inside the package, which may be older than the peers\' current releases,')
  console.log('so they are only a rough yardstick.')
  const incomplete = peers.map(p => [p.name, proxyIds.filter(id => p.res[id] === undefined).length]).filter(([, n]) => n > 0)
  if (incomplete.length) {
    console.log(`A test without a result counts as failed: ${incomplete.map(([n, c]) => `${n} has no result for ${c} tests`).join(', ')}.`)
  }
  console.log('Counts are passed tests (required optimal check), scored like edgecache: browser-only tests excluded, a')
  console.log('test whose depends_on did not pass counts as failed. "<< req" / "<< opt": edgecache is below the best peer.')
  console.log('')

  const nameW = Math.max(...groups.map(g => shortGroupName(g).length), 'TOTAL'.length)
  const cellW = 11 // "rrr ooo ccc"
  const cell = c => KINDS.map(k => String(c[k].pass).padStart(3)).join(' ')
  const totalsCell = c => KINDS.map(k => String(c[k].total).padStart(3)).join(' ')
  const cols = ['tests', 'edgecache', ...peers.map(p => p.name)]
  console.log(`${'group'.padEnd(nameW)}  ${cols.map(c => c.padStart(cellW)).join('  ')}`)
  console.log(`${''.padEnd(nameW)}  ${cols.map(() => 'req opt chk').join('  ')}`)

  const trails = []
  const row = (name, ours, theirs, g) => {
    const marks = []
    for (const kind of ['required', 'optimal']) {
      const best = Math.max(...theirs.map(t => t[kind].pass))
      if (ours[kind].pass < best) {
        marks.push(kind === 'required' ? 'req' : 'opt')
        if (g) trails.push({ g, kind, ours: ours[kind], best, bestPeers: peers.filter((p, i) => theirs[i][kind].pass === best) })
      }
    }
    const flag = marks.length ? `  << ${marks.join('+')}` : ''
    console.log(`${name.padEnd(nameW)}  ${[totalsCell(ours), cell(ours), ...theirs.map(cell)].join('  ')}${flag}`)
  }
  groups.forEach((g, i) => row(shortGroupName(g), g.counts, peers.map(p => p.scored.groups[i].counts), g))
  row('TOTAL', totals, peers.map(p => p.scored.totals), null)

  console.log('')
  if (trails.length === 0) {
    console.log('groups where we trail a peer: none')
    return
  }
  console.log('groups where we trail a peer (required / optimal):')
  const ourFailing = new Set(failing.map(f => f.id))
  for (const t of trails) {
    const suite = testSuites.find(s => s.id === t.g.id)
    const ids = suite.tests.filter(x => x.browser_only !== true && kindOf(x) === t.kind).map(x => x.id)
    // best peers that pass the same set of our failing tests share one line
    const bySet = new Map()
    for (const p of t.bestPeers) {
      const key = ids.filter(id => ourFailing.has(id) && p.passes(id)).join(', ')
      bySet.set(key, [...(bySet.get(key) ?? []), p.name])
    }
    console.log(`  ${t.g.name}: ${t.kind} ${t.ours.pass}/${t.ours.total}, best peer ${t.best}`)
    for (const [key, names] of bySet) console.log(`      ${names.join(', ')} pass${names.length === 1 ? 'es' : ''}, we fail: ${key}`)
  }
}
