//! The fit worker's side (`www/fit-worker.js`): a [`FitTask`] runs one [`Request`].
//!
//! Threaded build: the fit runs on rayon's pool of web workers and `start` returns at
//! once; the worker's event loop stays free to poll [`FitTask::progress`] and to pass on a
//! cancel, which the core honours at its next event. Single-threaded build: the fit runs
//! to the end inside `start`, posting progress from its own events; the page cancels it
//! by terminating the worker (it cannot read messages while it computes).

use std::cell::{Cell, RefCell};
use std::sync::{Arc, Mutex, PoisonError};

use heterodyne_core::exec::Par;
use wasm_bindgen::prelude::*;

use super::{Outcome, Phase, Progress, Request, run};

thread_local! {
    /// The page's progress callback, set on the worker's own thread only.
    static NOTIFY: RefCell<Option<js_sys::Function>> = const { RefCell::new(None) };
    /// When progress was last posted (ms since the epoch), and in which phase.
    static LAST_POSTED: Cell<(f64, Option<Phase>)> = const { Cell::new((0.0, None)) };
}

/// Posts the progress through the callback of this thread: a new phase at once, else at
/// most every 50 ms.
fn post_from_here(p: &Progress) {
    NOTIFY.with(|f| {
        let Some(f) = &*f.borrow() else { return };
        let now = js_sys::Date::now();
        let snapshot = p.snapshot();
        let (then, phase) = LAST_POSTED.with(Cell::get);
        if phase != Some(snapshot.phase) || now - then >= 50.0 {
            LAST_POSTED.with(|c| c.set((now, Some(snapshot.phase))));
            if let Ok(json) = serde_json::to_string(&snapshot) {
                let _ = f.call1(&JsValue::NULL, &JsValue::from_str(&json));
            }
        }
    });
}

/// How a fit ended: when (ms since the epoch), and its outcome until taken.
type Ended = (f64, Option<Result<Outcome, String>>);

struct TaskState {
    progress: Progress,
    started_ms: f64,
    /// Set once, with the outcome, so that "finished" always has an outcome to take.
    ended: Mutex<Option<Ended>>,
}

impl TaskState {
    fn finish(&self, outcome: Result<Outcome, String>) {
        *self.ended() = Some((js_sys::Date::now(), Some(outcome)));
    }

    fn ended(&self) -> std::sync::MutexGuard<'_, Option<Ended>> {
        self.ended.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One fit in the worker.
#[wasm_bindgen]
pub struct FitTask {
    state: Arc<TaskState>,
}

#[wasm_bindgen]
impl FitTask {
    /// Starts the fit of `request` (postcard bytes of a [`Request`]); `notify` receives
    /// progress snapshots (JSON) in the single-threaded build.
    pub fn start(request: &[u8], notify: js_sys::Function) -> Result<FitTask, JsError> {
        let request: Request = postcard::from_bytes(request)
            .map_err(|e| JsError::new(&format!("the page sent an unreadable request: {e}")))?;
        let threaded = crate::workers() > 0;
        let state = Arc::new(TaskState {
            progress: Progress::new(if threaded { None } else { Some(post_from_here) }),
            started_ms: js_sys::Date::now(),
            ended: Mutex::new(None),
        });
        if threaded {
            let s = Arc::clone(&state);
            rayon::spawn(move || {
                let par = Par::threads(rayon::current_num_threads());
                let outcome = run(&request, par, &s.progress);
                s.finish(outcome);
            });
        } else {
            NOTIFY.with(|n| *n.borrow_mut() = Some(notify));
            LAST_POSTED.with(|c| c.set((0.0, None)));
            let outcome = run(&request, Par::Seq, &state.progress);
            NOTIFY.with(|n| *n.borrow_mut() = None);
            state.finish(outcome);
        }
        Ok(FitTask { state })
    }

    /// The progress as JSON (a [`super::Snapshot`]).
    pub fn progress(&self) -> String {
        serde_json::to_string(&self.state.progress.snapshot()).unwrap_or_default()
    }

    /// Asks the fit to stop at its next event (threaded build).
    pub fn cancel(&self) {
        self.state.progress.cancel();
    }

    /// Whether the fit has ended.
    pub fn finished(&self) -> bool {
        self.state.ended().is_some()
    }

    /// Milliseconds from `start` to the end of the fit (so far, while it runs).
    pub fn elapsed_ms(&self) -> f64 {
        let end = self.state.ended().as_ref().map(|(ms, _)| *ms);
        end.unwrap_or_else(js_sys::Date::now) - self.state.started_ms
    }

    /// The outcome (postcard bytes of an [`Outcome`]); throws the fit's error.
    pub fn take(&self) -> Result<Vec<u8>, JsError> {
        let taken = self.state.ended().as_mut().and_then(|(_, o)| o.take());
        match taken {
            Some(Ok(outcome)) => postcard::to_allocvec(&outcome)
                .map_err(|e| JsError::new(&format!("the outcome could not be encoded: {e}"))),
            Some(Err(e)) => Err(JsError::new(&e)),
            None => Err(JsError::new(
                "the fit has not ended, or its outcome was taken",
            )),
        }
    }
}

/// Threads the worker computes on (0 in the single-threaded build).
#[wasm_bindgen]
pub fn worker_threads() -> usize {
    crate::workers()
}
