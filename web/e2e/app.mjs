// End-to-end test of the browser app: a real headless Chromium (Debian's `chromium`,
// driven by playwright-core) against the real `heterodyne serve` on 127.0.0.1, serving
// the app built by scripts/build-web.sh. Screenshots go to test-artifacts/web/.
//
//   node web/e2e/app.mjs            (from the repository root; HETERODYNE_BIN picks the binary)
//
// Prints one line per check and a closing "N passed, M failed"; exits 1 on any failure.
import { chromium } from 'playwright-core';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createServer } from 'node:net';

const root = resolve(new URL('../..', import.meta.url).pathname);
const bin = process.env.HETERODYNE_BIN ?? join(root, 'target/release/heterodyne');
const datasets = join(root, 'tests/data/datasets');
const artifacts = join(root, 'test-artifacts/web');
mkdirSync(artifacts, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'heterodyne-e2e-'));
const truth = JSON.parse(readFileSync(join(datasets, 'small.json'), 'utf8'));

let passed = 0, failed = 0;
function check(name, ok, detail = '') {
  if (ok) { passed++; console.log(`ok   ${name}${detail ? ' — ' + detail : ''}`); }
  else { failed++; console.log(`FAIL ${name}${detail ? ' — ' + detail : ''}`); }
}

// The small fixture's config: its grid, the suggested start, the registry's bounds.
function smallYaml(dataPath) {
  const groups = { reference: ['D0_ref', 'alpha_ref', 'D_offset_ref'], sample: ['D0_sample', 'alpha_sample', 'D_offset_sample'],
    velocity: ['v0', 'beta', 'v_offset'], fraction: ['f0', 'f1', 'f2', 'f3'], angle: ['phi0'] };
  let y = `experimental_data:\n  file_path: ${dataPath}\nanalyzer_parameters:\n  dt: ${truth.dt}\n  start_frame: 1\n  end_frame: ${truth.n_frames}\n  scattering:\n    wavevector_q: ${truth.q_target}\nparameters:\n`;
  for (const [g, names] of Object.entries(groups)) {
    y += `  ${g}:\n`;
    for (const n of names) y += `    ${n}: {value: ${truth.suggested_start[n]}}\n`;
  }
  return y;
}

async function startNode() {
  const child = spawn(bin, ['serve', '--addr', '127.0.0.1:0', '--state-dir', join(work, 'state'),
    '--web-dir', join(root, 'web/dist')], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
  const line = await new Promise((res, rej) => {
    createInterface({ input: child.stdout }).once('line', res);
    child.once('exit', (c) => rej(new Error(`heterodyne serve exited with ${c}`)));
  });
  return { child, url: line.replace('listening on ', '').trim() };
}

const { child: node, url } = await startNode();
const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'chromium-')), {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  viewport: { width: 1280, height: 800 } });
const errors = [];
try {
  const page = ctx.pages()[0] ?? await ctx.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));

  // (e) The page says whether it runs threaded and on how many cores.
  await page.goto(url + '/');
  await page.waitForSelector('#env');
  const env = await page.evaluate(() => ({ isolated: self.crossOriginIsolated,
    shown: document.querySelector('#env').dataset.isolated, cores: document.querySelector('#env').dataset.cores,
    workers: document.querySelector('#env').dataset.workers, text: document.querySelector('#env').textContent }));
  check('(e) the page is cross-origin isolated, runs threaded and reports its workers',
    env.isolated === true && env.shown === 'true' && Number(env.workers) >= 2 && Number(env.cores) >= 1, env.text);
  await page.screenshot({ path: join(artifacts, 'e-loaded.png'), fullPage: true });

  // A malformed file: a visible error, and the page keeps working.
  const junk = join(work, 'notes.npz');
  writeFileSync(junk, 'this is not an archive');
  await page.setInputFiles('#data-file', junk);
  await page.waitForFunction(() => document.querySelector('#error').textContent.length > 0);
  const err = await page.textContent('#error');
  check('a malformed file gives a visible error naming it', err.includes('notes.npz'), err);
  await page.screenshot({ path: join(artifacts, 'malformed.png'), fullPage: true });

  // (a) The same data as HDF5 (APS-U layout), read in the page.
  await page.setInputFiles('#data-file', join(datasets, 'small_aps_u.h5'));
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes('small_aps_u.h5'));
  await page.waitForSelector('#data-0 canvas');
  const h5maps = await page.$$eval('.views canvas.c2', (cs) => cs.map((c) => [c.width, c.height]));
  const h5status = await page.textContent('#status');
  check('(a) small_aps_u.h5 gives 100×100 heatmaps', h5maps.length >= 1 && h5maps.every(([w, h]) => w === 100 && h === 100) && h5status.includes('aps-u'), `${h5status} ${JSON.stringify(h5maps)}`);
  await page.screenshot({ path: join(artifacts, 'a-heatmaps-hdf5.png'), fullPage: true });

  // (a) Upload the small fixture: one heatmap per angle.
  await page.setInputFiles('#data-file', join(datasets, 'small.npz'));
  await page.waitForSelector('#data-2 canvas');
  const maps = await page.$$eval('.views canvas.c2', (cs) => cs.map((c) => [c.width, c.height]));
  check('(a) small.npz gives three 100×100 heatmaps', maps.length === 3 && maps.every(([w, h]) => w === 100 && h === 100), JSON.stringify(maps));
  // The canvases are painted: opaque pixels in many colours, not a blank box.
  const painted = await page.$$eval('.views canvas.c2', (cs) => cs.map((c) => {
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const colours = new Set();
    for (let i = 0; i < px.length; i += 4 * 97) if (px[i + 3] === 255) colours.add(`${px[i]},${px[i + 1]},${px[i + 2]}`);
    return colours.size;
  }));
  check('(a) the heatmaps are painted', painted.every((k) => k > 20), JSON.stringify(painted));
  check('the error is cleared once a good file loads', (await page.textContent('#error')) === '');
  // φ selection: leave 45° out, then take it back.
  await page.uncheck('#phi-1');
  await page.waitForFunction(() => document.querySelectorAll('.views canvas.c2').length === 2);
  const titles = await page.$$eval('.views figcaption', (fs) => fs.map((f) => f.textContent));
  await page.check('#phi-1');
  await page.waitForFunction(() => document.querySelectorAll('.views canvas.c2').length === 3);
  check('φ selection drops and restores an angle', titles.join('|') === 'data, φ = 0°|data, φ = 90°', titles.join('|'));
  await page.screenshot({ path: join(artifacts, 'a-heatmaps.png'), fullPage: true });

  // (b) A fit in the page from the fixture's config.
  const yamlPath = join(work, 'small.yaml');
  writeFileSync(yamlPath, smallYaml(join(datasets, 'small.npz')));
  await page.setInputFiles('#config-file', yamlPath);
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes('imported'));
  await page.click('#fit-here');
  await page.waitForSelector('#estimates', { timeout: 300_000 });
  const est = await page.$$eval('#estimates tbody tr', (rows) => rows.map((r) => ({ name: r.dataset.param,
    value: Number(r.querySelector('.value').dataset.value), se: Number(r.querySelector('.std-error').dataset.value || NaN) })));
  const status = await page.textContent('#status');
  const browserMs = Number(/fitted in (\d+) ms/.exec(status)?.[1]);
  let within = 0; const off = [];
  for (const e of est) {
    const t = truth.truth[e.name];
    // f0 and f2 are individually unidentified (only f0·exp(−f1·f2) is): no standard error.
    if (!Number.isFinite(e.se)) { within++; continue; }
    if (Math.abs(e.value - t) <= 3 * e.se) within++; else off.push(`${e.name}=${e.value} (truth ${t}, se ${e.se})`);
  }
  check('(b) every fitted value lies within 3 standard errors of the truth', est.length === 14 && within === 14, off.join('; ') || `${within}/14`);
  const cuts = await page.$$eval('#cuts-0 svg polyline', (ps) => ps.filter((p) => p.getAttribute('points').split(' ').length > 10).length);
  check('constant-lag and across-diagonal cuts show data and fit', cuts === 8, `${cuts} curves`);
  await page.screenshot({ path: join(artifacts, 'b-local-fit.png'), fullPage: true });
  // What the README shows: the results at the 1280×800 the page is made for.
  await page.$eval('.results', (el) => el.scrollIntoView());
  await page.screenshot({ path: join(artifacts, 'readme.png') });

  // The same fit by the native CLI, one thread: same numbers, and the time ratio.
  const t0 = performance.now();
  const cli = spawnSync(bin, ['fit', '--config', yamlPath, '--output-dir', join(work, 'cli'), '--threads', '1', '--quiet', '--no-plots'], { encoding: 'utf8' });
  const nativeMs = performance.now() - t0;
  const result = JSON.parse(readFileSync(join(work, 'cli/result.json'), 'utf8'));
  const worst = Math.max(...est.map((e) => Math.abs(e.value - result.parameters[e.name].value) / Math.max(1e-12, Math.abs(result.parameters[e.name].value))));
  check('the page and the CLI agree', cli.status === 0 && worst < 1e-6, `largest relative difference ${worst.toExponential(2)}`);
  const nativeFitMs = 1000 * result.timings.fit_seconds;
  console.log(`time: browser fit ${browserMs} ms; native CLI on 1 thread: fit ${nativeFitMs.toFixed(0)} ms (whole process ${nativeMs.toFixed(0)} ms); ratio browser/native fit ${(browserMs / nativeFitMs).toFixed(2)} (target ≤ 3)`);

  // (c) The same fit on the node: the CLI's numbers, bit for bit.
  await page.click('#fit-node');
  await page.waitForFunction(() => /fitted on the node|cannot reach/.test(document.querySelector('#status').textContent + document.querySelector('#error').textContent), null, { timeout: 300_000 });
  const remote = await page.$$eval('#estimates tbody tr', (rows) => rows.map((r) => ({ name: r.dataset.param,
    value: Number(r.querySelector('.value').dataset.value) })));
  const diffs = remote.map((e) => `${e.name}: ${e.value} vs ${result.parameters[e.name].value}`).filter((d, i) => remote[i].value !== result.parameters[remote[i].name].value);
  const same = remote.length === 14 && diffs.length === 0;
  check('(c) the fit on the node gives the CLI\'s numbers exactly', same, diffs.join('; ') || await page.textContent('#status'));
  await page.screenshot({ path: join(artifacts, 'c-remote-fit.png'), fullPage: true });

  // (d) A share link, opened in a fresh browser (no cookies, no state).
  await page.click('#share');
  await page.waitForSelector('#share-link', { timeout: 60_000 });
  const link = new URL(await page.getAttribute('#share-link', 'href'), url).href;
  const fresh = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'chromium-')), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'], viewport: { width: 1280, height: 800 } });
  try {
    const other = fresh.pages()[0] ?? await fresh.newPage();
    const response = await other.goto(link);
    const text = await other.textContent('body');
    const shown = Object.keys(truth.truth).every((n) => text.includes(n));
    check('(d) the share link opens read-only in a fresh browser', response.status() === 200 && text.includes('Read-only') && shown && (await other.$('form')) === null, link);
    await other.screenshot({ path: join(artifacts, 'd-shared.png'), fullPage: true });
  } finally {
    await fresh.close();
  }

  // A node that is down: a visible error, not a spinner forever; the page keeps working.
  const closed = await new Promise((res) => { const srv = createServer(); srv.listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => res(p)); }); });
  const downUrl = `http://127.0.0.1:${closed}`;
  await page.fill('#node-url', downUrl);
  await page.dispatchEvent('#node-url', 'change');
  const t1 = Date.now();
  await page.click('#fit-node');
  await page.waitForFunction(() => document.querySelector('#error').textContent.includes('cannot reach the node'), null, { timeout: 30_000 });
  const downMs = Date.now() - t1;
  const usable = await page.isEnabled('#fit-here');
  check('a node that is down gives a visible error and the page stays usable', usable && (await page.$('#progress')) === null, `${await page.textContent('#error')} (${downMs} ms)`);
  await page.screenshot({ path: join(artifacts, 'node-down.png'), fullPage: true });

  check('no errors in the page console', errors.filter((e) => !e.includes('ERR_CONNECTION_REFUSED')).length === 0, errors.join(' | '));
} catch (e) {
  check('the run finished', false, String(e?.stack ?? e));
} finally {
  await ctx.close();
  node.kill();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
