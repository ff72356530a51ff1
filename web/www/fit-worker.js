// The fit worker: runs fits off the page's thread so the page stays responsive. It loads
// the threaded build (rayon on nested web workers) when cross-origin isolated, else the
// single-threaded one. Messages in: {kind: 'fit', request: Uint8Array} and
// {kind: 'cancel'}. Messages out: {kind: 'ready', threaded, workers}, {kind: 'progress',
// snapshot: JSON}, {kind: 'done', outcome: Uint8Array, ms}, {kind: 'error', message}.
const early = [];
let handle = (m) => early.push(m);
self.onmessage = (e) => handle(e.data);

const threaded = self.crossOriginIsolated === true;
const app = await import(threaded ? './pkg-threads/heterodyne_web.js' : './pkg/heterodyne_web.js');
await app.default();
if (threaded) await app.initThreadPool(Math.max(2, navigator.hardwareConcurrency || 2));

let task = null;
const post = (m, transfer) => self.postMessage(m, transfer ?? []);
const message = (e) => String(e?.message ?? e);

function finish(t) {
  const ms = t.elapsed_ms();
  try {
    const outcome = t.take();
    post({ kind: 'done', outcome, ms }, [outcome.buffer]);
  } catch (e) {
    post({ kind: 'error', message: message(e) });
  }
  task = null;
}

function poll() {
  if (task === null) return;
  post({ kind: 'progress', snapshot: task.progress() });
  if (task.finished()) finish(task);
  else setTimeout(poll, 50);
}

handle = (m) => {
  if (m?.kind === 'cancel') { task?.cancel(); return; }
  if (m?.kind !== 'fit') return;
  if (task !== null) { post({ kind: 'error', message: 'a fit is already running in this worker' }); return; }
  try {
    task = app.FitTask.start(m.request, (snapshot) => post({ kind: 'progress', snapshot }));
  } catch (e) {
    post({ kind: 'error', message: message(e) });
    return;
  }
  poll();
};
post({ kind: 'ready', threaded, workers: app.worker_threads() });
for (const m of early.splice(0)) handle(m);
