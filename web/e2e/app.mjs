// End-to-end test of the browser app: a real headless Chromium (Debian's `chromium`,
// driven by playwright-core) against the real `heterodyne serve` on 127.0.0.1, serving
// the app built into the binary — the binary alone, copied into a temporary directory
// outside the checkout and started there without --web-dir. Screenshots go to
// test-artifacts/web/.
//
//   node web/e2e/app.mjs            (from the repository root; HETERODYNE_BIN picks the binary)
//
// Prints one line per check and a closing "N passed, M failed"; exits 1 on any failure.
import { chromium } from 'playwright-core';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync, copyFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';

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

// The small fixture's config: its grid, the suggested start, the registry's bounds. With
// `free`, only those vary (from the suggested start) and the rest sit at the truth; `cmc`
// is the optimization.cmc section.
function smallYaml(dataPath, { free = null, cmc = '' } = {}) {
  const groups = { reference: ['D0_ref', 'alpha_ref', 'D_offset_ref'], sample: ['D0_sample', 'alpha_sample', 'D_offset_sample'],
    velocity: ['v0', 'beta', 'v_offset'], fraction: ['f0', 'f1', 'f2', 'f3'], angle: ['phi0'] };
  let y = `experimental_data:\n  file_path: ${dataPath}\nanalyzer_parameters:\n  dt: ${truth.dt}\n  start_frame: 1\n  end_frame: ${truth.n_frames}\n  scattering:\n    wavevector_q: ${truth.q_target}\nparameters:\n`;
  for (const [g, names] of Object.entries(groups)) {
    y += `  ${g}:\n`;
    for (const n of names) {
      const vary = free === null || free.includes(n);
      y += `    ${n}: {value: ${vary ? truth.suggested_start[n] : truth.truth[n]}, vary: ${vary}}\n`;
    }
  }
  if (cmc) y += `optimization:\n  cmc:\n${cmc}`;
  return y;
}

// Imports `yaml` through the page's config input.
async function importConfig(page, name, yaml) {
  const path = join(work, name);
  writeFileSync(path, yaml);
  await page.setInputFiles('#config-file', path);
  await page.waitForFunction((n) => document.querySelector('#status').textContent.includes(`${n}: config imported`), name);
  return path;
}

// The estimates table as [{name, value, se}].
const readEstimates = (page) => page.$$eval('#estimates tbody tr', (rows) => rows.map((r) => ({ name: r.dataset.param,
  value: Number(r.querySelector('.value').dataset.value), se: Number(r.querySelector('.std-error').dataset.value || NaN) })));

// Which of `est` lie within 3 standard errors of the truth (no standard error: f0 and f2
// are individually unidentified, only f0·exp(−f1·f2) is).
function againstTruth(est) {
  let within = 0; const off = [];
  for (const e of est) {
    const t = truth.truth[e.name];
    if (!Number.isFinite(e.se)) { within++; continue; }
    if (Math.abs(e.value - t) <= 3 * e.se) within++; else off.push(`${e.name}=${e.value} (truth ${t}, se ${e.se})`);
  }
  return { within, off };
}

// Milliseconds the page's own thread takes to answer (it must not wait on a fit).
async function pageLatency(page) {
  const t = performance.now();
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(1))));
  return performance.now() - t;
}

// Starts a long CMC in the page, checks that the page stays responsive and shows live
// progress, cancels it, and checks the page is usable again. Returns [ok, detail].
async function cancelLongRun(page, shot = null) {
  await page.selectOption('#method', 'cmc');
  await page.fill('#num-warmup', '5000');
  await page.dispatchEvent('#num-warmup', 'change');
  await page.fill('#num-samples', '5000');
  await page.dispatchEvent('#num-samples', 'change');
  await page.click('#fit-here');
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes('sampling in the page'), null, { timeout: 60_000 });
  const first = await page.textContent('#status');
  const latency = [];
  for (let k = 0; k < 5; k++) { latency.push(await pageLatency(page)); await page.waitForTimeout(200); }
  const later = await page.textContent('#status');
  const bar = await page.$('#progress');
  if (shot) await page.screenshot({ path: shot });
  await page.click('#cancel');
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes('fit cancelled'), null, { timeout: 30_000 });
  await page.waitForFunction(() => !document.querySelector('#fit-here').disabled, null, { timeout: 30_000 });
  await page.selectOption('#method', 'nlsq');
  const worst = Math.max(...latency);
  return [bar !== null && first !== later && worst < 500,
    `progress "${first}" → "${later}"; page answered within ${worst.toFixed(0)} ms while sampling; then cancelled`];
}

// The binary alone in a directory of its own, as a user would install it.
const installed = mkdtempSync(join(tmpdir(), 'heterodyne-bin-'));
const nodeBin = join(installed, 'heterodyne');
copyFileSync(bin, nodeBin);
chmodSync(nodeBin, 0o755);

async function startNode() {
  const child = spawn(nodeBin, ['serve', '--addr', '127.0.0.1:0', '--state-dir', join(work, 'state')],
    { cwd: installed, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
  const lines = [];
  const rl = createInterface({ input: child.stdout });
  await new Promise((res, rej) => {
    rl.on('line', (l) => { lines.push(l); if (l.includes('app: ')) res(); });
    child.once('exit', (c) => rej(new Error(`heterodyne serve exited with ${c}`)));
  });
  return { child, url: lines[0].replace('listening on ', '').trim(), banner: lines };
}

// The app as `heterodyne export-app` writes it, on a plain static server without
// COOP/COEP, as a user might host it: the page is not cross-origin isolated, so its fit
// worker runs the single-threaded build.
async function startStatic() {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
  const dist = join(work, 'exported');
  const exported = spawnSync(nodeBin, ['export-app', dist], { encoding: 'utf8' });
  if (exported.status !== 0) throw new Error(`export-app failed: ${exported.stderr}`);
  const srv = createHttpServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const file = join(dist, path === '/' ? 'index.html' : path);
    if (!file.startsWith(dist) || !existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': types[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { srv, url: `http://127.0.0.1:${srv.address().port}` };
}

const { child: node, url, banner } = await startNode();
const plain = await startStatic();
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

  // The node says where it listens, where its state is and what it reads.
  check('serve prints its URL, state dir and data root on start', /^listening on http:\/\/127\.0\.0\.1:\d+$/.test(banner[0])
    && banner.some((l) => l.includes('state dir: ') && l.includes(join(work, 'state'))) && banner.some((l) => l.includes('data root: ')),
    banner.join(' | '));

  // The copied binary serves the whole app with the headers threads need.
  const index = await fetch(url + '/');
  const html = await index.text();
  const hash = /app\/([0-9a-f]{16})\//.exec(html)?.[1];
  const modules = await Promise.all(['pkg/heterodyne_web_bg.wasm', 'pkg-threads/heterodyne_web_bg.wasm']
    .map((m) => fetch(`${url}/app/${hash}/${m}`)));
  check('/ answers 200 with COOP same-origin, COEP require-corp and no-cache; both wasm modules answer 200 as application/wasm, immutable',
    index.status === 200 && index.headers.get('cross-origin-opener-policy') === 'same-origin'
      && index.headers.get('cross-origin-embedder-policy') === 'require-corp' && index.headers.get('cache-control') === 'no-cache'
      && hash !== undefined && modules.every((r) => r.status === 200 && r.headers.get('content-type') === 'application/wasm'
        && r.headers.get('cache-control').includes('immutable') && r.headers.get('cross-origin-embedder-policy') === 'require-corp'),
    `binary ${nodeBin}; / ${index.status} ${index.headers.get('cross-origin-opener-policy')}/${index.headers.get('cross-origin-embedder-policy')}; `
      + `assets app/${hash}/: ${modules.map((r) => `${r.status} ${r.headers.get('content-type')} ${r.headers.get('content-encoding') ?? ''}`).join(', ')}`);

  // (e) The page says whether it runs threaded and on how many cores.
  await page.goto(url + '/');
  await page.waitForSelector('#env[data-ready=true]', { timeout: 60_000 });
  const env = await page.evaluate(() => ({ isolated: self.crossOriginIsolated,
    shown: document.querySelector('#env').dataset.isolated, cores: document.querySelector('#env').dataset.cores,
    workers: document.querySelector('#env').dataset.workers, text: document.querySelector('#env').textContent }));
  check('(e) the page is cross-origin isolated, runs threaded and reports its workers',
    env.isolated === true && env.shown === 'true' && Number(env.workers) >= 2 && Number(env.cores) >= 1, env.text);
  await page.screenshot({ path: join(artifacts, 'e-loaded.png'), fullPage: true });

  // A new user's first minute: open the bundled example, see it, fit it here; the table
  // equals the CLI's result.json on the same file and config.
  const tExample = Date.now();
  await page.click('#open-example');
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes('bundled example'), null, { timeout: 30_000 });
  await page.waitForSelector('#data-2 canvas');
  await page.click('#fit-here');
  await page.waitForSelector('#estimates', { timeout: 120_000 });
  const exampleMs = Date.now() - tExample;
  const exEst = await readEstimates(page);
  const exCli = spawnSync(bin, ['fit', '--config', join(root, 'examples/fit.yaml'), '--output-dir', join(work, 'example-cli'),
    '--threads', '1', '--quiet', '--no-plots'], { encoding: 'utf8' });
  const exResult = JSON.parse(readFileSync(join(work, 'example-cli/result.json'), 'utf8'));
  const rel = (a, b) => Math.abs(a - b) / Math.max(1e-300, Math.abs(b));
  let exWorst = 0; const exOff = [];
  for (const e of exEst) {
    const p = exResult.parameters[e.name];
    const dv = rel(e.value, p.value);
    const ds = (p.std_error === null) ? (Number.isFinite(e.se) ? Infinity : 0) : rel(e.se, p.std_error);
    exWorst = Math.max(exWorst, dv, ds);
    if (dv > 1e-8 || ds > 1e-8) exOff.push(`${e.name}: ${e.value} ± ${e.se} vs ${p.value} ± ${p.std_error}`);
  }
  check('"Open the example" shows the bundled APS-U example and fits it here; the table equals the CLI\'s result.json within rel 1e-8',
    exCli.status === 0 && exEst.length === 14 && exOff.length === 0,
    `${exOff.join('; ') || `largest relative difference ${exWorst.toExponential(2)} (values and standard errors)`}; opened and fitted in ${exampleMs} ms ${exCli.stderr}`);
  await page.screenshot({ path: join(artifacts, 'example.png'), fullPage: true });

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

  // Zoom: drag a rectangle over the middle of the first heatmap, then the keyboard.
  await page.locator('#data-0 canvas').scrollIntoViewIfNeeded();
  const box = await page.locator('#data-0 canvas').boundingBox();
  await page.mouse.move(box.x + box.width * 0.25, box.y + box.height * 0.25);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.75, box.y + box.height * 0.75, { steps: 4 });
  await page.mouse.up();
  const zoomed = await page.$eval('#data-0 canvas', (c) => [c.width, c.height]);
  const shownZoom = await page.textContent('#data-0 .window');
  await page.focus('#data-0 canvas');
  await page.keyboard.press('0');
  const reset = await page.$eval('#data-0 canvas', (c) => [c.width, c.height]);
  await page.keyboard.press('+');
  const keyed = await page.$eval('#data-0 canvas', (c) => [c.width, c.height]);
  await page.click('#data-0 button.reset');
  check('drag-to-zoom, + and 0 on a heatmap', zoomed[0] >= 48 && zoomed[0] <= 52 && zoomed[1] >= 48 && zoomed[1] <= 52
    && reset[0] === 100 && keyed[0] === 50, `dragged ${zoomed} (${shownZoom}), reset ${reset}, + ${keyed}`);

  // (b) A fit in the page (in the fit worker) from the fixture's config.
  const yamlPath = await importConfig(page, 'small.yaml', smallYaml(join(datasets, 'small.npz')));
  await page.click('#fit-here');
  await page.waitForSelector('#estimates', { timeout: 300_000 });
  const est = await readEstimates(page);
  const status = await page.textContent('#status');
  const browserMs = Number(/fitted in (\d+) ms/.exec(status)?.[1]);
  const { within, off } = againstTruth(est);
  const bError = await page.textContent('#error');
  check('(b) every fitted value lies within 3 standard errors of the truth', est.length === 14 && within === 14 && bError === '', (off.join('; ') || `${within}/14`) + ` ${bError}`);
  const scaling = await page.$$eval('#scaling tbody tr', (rows) => rows.map((r) => ({ phi: Number(r.dataset.phi),
    contrast: Number(r.querySelector('.contrast').dataset.value), se: Number(r.querySelector('.std-error').dataset.value || NaN),
    offset: Number(r.querySelector('.offset').dataset.value) })));
  check('(b) the per-angle contrast and offset are shown, contrast within 3 standard errors of the truth',
    scaling.length === 3 && scaling.every((r, a) => Math.abs(r.contrast - truth.truth_scaling.contrast[a]) <= 3 * r.se && Math.abs(r.offset - 1) < 0.01),
    JSON.stringify(scaling));
  const cuts = await page.$$eval('#cuts-0 svg polyline', (ps) => ps.filter((p) => p.getAttribute('points').split(' ').length > 10).length);
  check('constant-lag and across-diagonal cuts show data and fit', cuts === 8, `${cuts} curves`);
  await page.screenshot({ path: join(artifacts, 'b-local-fit.png'), fullPage: true });
  // What the README shows: the results at the 1280×800 the page is made for.
  await page.$eval('.results', (el) => el.scrollIntoView());
  await page.screenshot({ path: join(artifacts, 'readme.png') });

  // The time ratio from the best of three fits on each side (single fits of ~0.1 s vary
  // by ±50 % on a shared 2-core machine).
  const browserRuns = [browserMs];
  for (let k = 0; k < 2; k++) {
    await page.click('#fit-here');
    await page.waitForFunction(() => document.querySelector('#status').textContent.startsWith('fitted in'), null, { timeout: 300_000 });
    browserRuns.push(Number(/fitted in (\d+) ms/.exec(await page.textContent('#status'))?.[1]));
  }
  const nativeRuns = [];
  for (let k = 0; k < 3; k++) {
    spawnSync(bin, ['fit', '--config', yamlPath, '--output-dir', join(work, `cli-${k}`), '--threads', '1', '--quiet', '--no-plots']);
    nativeRuns.push(1000 * JSON.parse(readFileSync(join(work, `cli-${k}/result.json`), 'utf8')).timings.fit_seconds);
  }

  // The same fit by the native CLI, one thread: same numbers.
  const t0 = performance.now();
  const cli = spawnSync(bin, ['fit', '--config', yamlPath, '--output-dir', join(work, 'cli'), '--threads', '1', '--quiet', '--no-plots'], { encoding: 'utf8' });
  const nativeMs = performance.now() - t0;
  const result = JSON.parse(readFileSync(join(work, 'cli/result.json'), 'utf8'));
  const worst = Math.max(...est.map((e) => Math.abs(e.value - result.parameters[e.name].value) / Math.max(1e-12, Math.abs(result.parameters[e.name].value))));
  check('the page and the CLI agree', cli.status === 0 && worst < 1e-6, `largest relative difference ${worst.toExponential(2)}`);
  const bestBrowser = Math.min(...browserRuns);
  const bestNative = Math.min(...nativeRuns);
  console.log(`time: browser fit ${bestBrowser} ms (best of ${browserRuns.join(', ')}); native CLI on 1 thread: fit ${bestNative.toFixed(0)} ms (best of ${nativeRuns.map((m) => m.toFixed(0)).join(', ')}; whole process ${nativeMs.toFixed(0)} ms); ratio browser/native fit ${(bestBrowser / bestNative).toFixed(2)} (target ≤ 3)`);

  // A long fit in the page: the page stays responsive, shows progress, and cancels.
  const [cancelled, cancelDetail] = await cancelLongRun(page, join(artifacts, 'progress.png'));
  check('a fit in the page keeps the page responsive, shows progress and can be cancelled (threaded build)', cancelled, cancelDetail);
  await page.screenshot({ path: join(artifacts, 'cancelled.png'), fullPage: true });

  // CMC in the page: posterior histograms and traces of every sampled quantity.
  const free = ['D0_sample', 'v0', 'phi0'];
  const cmcSection = '    num_warmup: 60\n    num_samples: 40\n    num_chains: 2\n    num_shards: 1\n';
  await importConfig(page, 'small-cmc.yaml', smallYaml(join(datasets, 'small.npz'), { free, cmc: cmcSection }));
  await page.selectOption('#method', 'cmc');
  await page.click('#fit-here');
  await page.waitForSelector('#posterior', { timeout: 300_000 });
  const marginals = await page.$$eval('#posterior figure.marginal', (fs) => fs.map((f) => ({ name: f.dataset.param,
    mean: Number(f.dataset.mean), std: Number(f.dataset.std),
    bars: f.querySelectorAll('svg.histogram rect').length - 1, chains: f.querySelectorAll('svg.trace polyline.chain').length,
    points: f.querySelector('svg.trace polyline.chain')?.getAttribute('points').split(' ').length ?? 0 })));
  const sampled = free.every((n) => marginals.some((m) => m.name === n)) && marginals.some((m) => m.name === 'sigma')
    && marginals.every((m) => m.bars === 30 && m.chains === 2 && m.points === 40);
  check('CMC in the page shows a histogram and two 40-draw traces per sampled quantity', sampled,
    marginals.map((m) => `${m.name}: ${m.bars} bars, ${m.chains}×${m.points}`).join('; ') + ` — ${await page.textContent('#verdict')}`);
  await page.screenshot({ path: join(artifacts, 'cmc-local.png'), fullPage: true });
  await page.$eval('#verdict', (el) => el.scrollIntoView());
  await page.screenshot({ path: join(artifacts, 'cmc-posterior.png') });

  // The same CMC on the node: its posterior views, read from the node's posterior.npz.
  await page.click('#fit-node');
  await page.waitForFunction(() => /fitted on the node|cannot reach|ended/.test(document.querySelector('#status').textContent + document.querySelector('#error').textContent), null, { timeout: 300_000 });
  const remoteMarginals = await page.$$eval('#posterior figure.marginal', (fs) => fs.map((f) => ({ name: f.dataset.param,
    mean: Number(f.dataset.mean), chains: f.querySelectorAll('svg.trace polyline.chain').length })));
  // The same sampler from the same seed; wasm and native differ in the last bits of exp/ln,
  // so the chains drift apart, but the posteriors must agree within a posterior sd.
  const apart = remoteMarginals.map((r) => {
    const l = marginals.find((m) => m.name === r.name);
    return l ? Math.abs(r.mean - l.mean) / l.std : Infinity;
  });
  check('CMC on the node shows its posterior in the page, agreeing with the page\'s within one posterior sd',
    remoteMarginals.length === marginals.length && remoteMarginals.every((r) => r.chains === 2) && apart.every((d) => d < 1),
    `${remoteMarginals.map((r, k) => `${r.name}: ${apart[k].toFixed(2)} sd apart`).join('; ')} — ${await page.textContent('#status')} ${await page.textContent('#error')}`);
  await page.screenshot({ path: join(artifacts, 'cmc-node.png'), fullPage: true });
  // Its share link opens the posterior views too.
  await page.click('#share');
  await page.waitForSelector('#share-link', { timeout: 60_000 });
  const cmcLink = new URL(await page.getAttribute('#share-link', 'href'), url).href;
  const cmcShared = await ctx.newPage();
  await cmcShared.goto(cmcLink);
  await cmcShared.waitForSelector('#posterior figure.marginal', { timeout: 60_000 });
  const sharedMarginals = await cmcShared.$$eval('#posterior figure.marginal', (fs) => fs.map((f) => ({ name: f.dataset.param, mean: Number(f.dataset.mean) })));
  check('the share link of a CMC job shows its posterior views', sharedMarginals.length === remoteMarginals.length
    && sharedMarginals.every((m, k) => m.name === remoteMarginals[k].name && m.mean === remoteMarginals[k].mean),
    `${sharedMarginals.length} marginals at ${cmcLink}`);
  await cmcShared.screenshot({ path: join(artifacts, 'cmc-shared.png'), fullPage: true });
  await cmcShared.close();
  await page.selectOption('#method', 'nlsq');
  await importConfig(page, 'small.yaml', smallYaml(join(datasets, 'small.npz')));

  // (c) The same fit on the node: the CLI's numbers, bit for bit.
  await page.click('#fit-node');
  await page.waitForFunction(() => /fitted on the node|cannot reach/.test(document.querySelector('#status').textContent + document.querySelector('#error').textContent), null, { timeout: 300_000 });
  const remote = await page.$$eval('#estimates tbody tr', (rows) => rows.map((r) => ({ name: r.dataset.param,
    value: Number(r.querySelector('.value').dataset.value) })));
  const diffs = remote.map((e) => `${e.name}: ${e.value} vs ${result.parameters[e.name].value}`).filter((d, i) => remote[i].value !== result.parameters[remote[i].name].value);
  const same = remote.length === 14 && diffs.length === 0;
  check('(c) the fit on the node gives the CLI\'s numbers exactly', same, diffs.join('; ') || await page.textContent('#status'));
  await page.screenshot({ path: join(artifacts, 'c-remote-fit.png'), fullPage: true });

  // (d) A share link, opened in a fresh browser (no cookies, no state): the app itself,
  // read-only, with the node job's values; a forged token gets the one 404.
  await page.click('#share');
  await page.waitForSelector('#share-link', { timeout: 60_000 });
  const link = new URL(await page.getAttribute('#share-link', 'href'), url).href;
  const fresh = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'chromium-')), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'], viewport: { width: 1280, height: 800 } });
  try {
    const other = fresh.pages()[0] ?? await fresh.newPage();
    const sharedErrors = [];
    other.on('pageerror', (e) => sharedErrors.push(String(e)));
    const response = await other.goto(link);
    await other.waitForSelector('#estimates', { timeout: 60_000 });
    await other.waitForSelector('#fit-resid-0 canvas');
    const sharedEst = await other.$$eval('#estimates tbody tr', (rows) => rows.map((r) => ({ name: r.dataset.param,
      value: Number(r.querySelector('.value').dataset.value) })));
    const sameShared = sharedEst.length === 14 && sharedEst.every((e) => e.value === result.parameters[e.name].value);
    const controls = await other.$$eval('input, select, textarea, #fit-here, #fit-node, #share', (els) => els.length);
    const readOnly = (await other.textContent('#read-only')).includes('Read-only');
    const forgedUrl = link.replace(/[0-9a-f]{8}$/, (t) => t === '00000000' ? '11111111' : '00000000');
    const forged = await fetch(forgedUrl);
    const forgedBody = await forged.text();
    check('(d) the share link opens the app read-only in a fresh browser with the node\'s values; a forged token gets 404 and nothing else',
      response.status() === 200 && readOnly && sameShared && controls === 0 && sharedErrors.length === 0
        && forged.status === 404 && !forgedBody.includes('<html') && forgedBody.includes('no such share'),
      `${link}: ${sharedEst.length} values ${sameShared ? 'equal to' : 'DIFFERENT from'} the CLI's, ${controls} controls; forged → ${forged.status} ${forgedBody} ${sharedErrors.join(' | ')}`);
    await other.screenshot({ path: join(artifacts, 'd-shared.png'), fullPage: true });
  } finally {
    await fresh.close();
  }

  // The size guard: a 420-frame file is refused here with the reason and a one-click
  // "Send to node", which fits it on the node.
  const bigYaml = join(work, 'big.yaml');
  writeFileSync(bigYaml, readFileSync(join(root, 'examples/simulate.yaml'), 'utf8').replace(/end_frame: *100/, 'end_frame: 420'));
  const sim = spawnSync(bin, ['simulate', '--config', bigYaml, '--out', join(work, 'big.npz'), '--phi', '0', '--noise', '0.003', '--seed', '1'], { encoding: 'utf8' });
  await page.setInputFiles('#data-file', join(work, 'big.npz'));
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes('big.npz'));
  await page.click('#fit-here');
  await page.waitForSelector('#send-to-node', { timeout: 10_000 });
  const guard = await page.textContent('#error');
  await page.click('#send-to-node');
  await page.waitForFunction(() => /fitted on the node|cannot reach|ended/.test(document.querySelector('#status').textContent + document.querySelector('#error').textContent), null, { timeout: 300_000 });
  const sent = await page.textContent('#status');
  check('a file over the size guard is refused with the reason, and "Send to node" fits it there',
    sim.status === 0 && guard.includes('this dataset has 420 frames; fit it on a node or trim to ≤ 400') && sent.includes('fitted on the node'),
    `"${guard}" → "${sent}" ${sim.stderr ?? ''}`);
  await page.screenshot({ path: join(artifacts, 'size-guard.png'), fullPage: true });

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

  // The single-threaded fallback: the same fit in a page that is not cross-origin isolated.
  const single = await ctx.newPage();
  single.on('pageerror', (e) => errors.push(String(e)));
  single.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await single.goto(plain.url + '/');
  await single.waitForSelector('#env[data-ready=true]', { timeout: 60_000 });
  const env1 = await single.evaluate(() => ({ isolated: self.crossOriginIsolated, workers: document.querySelector('#env').dataset.workers,
    text: document.querySelector('#env').textContent }));
  check('(e) a page that is not cross-origin isolated says it runs single-threaded', env1.isolated === false && env1.workers === '0'
    && env1.text.includes('single-threaded'), env1.text);
  await single.setInputFiles('#data-file', join(datasets, 'small.npz'));
  await single.waitForSelector('#data-2 canvas');
  await importConfig(single, 'small.yaml', smallYaml(join(datasets, 'small.npz')));
  await single.click('#fit-here');
  await single.waitForSelector('#estimates', { timeout: 300_000 });
  const est1 = await readEstimates(single);
  const ms1 = Number(/fitted in (\d+) ms/.exec(await single.textContent('#status'))?.[1]);
  const same1 = Math.max(...est1.map((e, k) => Math.abs(e.value - est[k].value) / Math.max(1e-12, Math.abs(est[k].value))));
  const truth1 = againstTruth(est1);
  check('the single-threaded build fits the same numbers', est1.length === 14 && truth1.within === 14 && same1 < 1e-9,
    `largest relative difference to the threaded fit ${same1.toExponential(2)}; ${ms1} ms single-threaded vs ${browserMs} ms threaded`);
  await single.screenshot({ path: join(artifacts, 'single-threaded.png'), fullPage: true });
  const [cancelled1, detail1] = await cancelLongRun(single);
  await single.waitForSelector('#env[data-ready=true]', { timeout: 60_000 });
  check('a single-threaded fit keeps the page responsive and cancels (the worker is replaced)', cancelled1, detail1);

  check('no errors in the page console', errors.filter((e) => !e.includes('ERR_CONNECTION_REFUSED')).length === 0, errors.join(' | '));
} catch (e) {
  check('the run finished', false, String(e?.stack ?? e));
} finally {
  await ctx.close();
  node.kill();
  plain.srv.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
