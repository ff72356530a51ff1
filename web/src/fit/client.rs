//! The page's side of the fit worker (`www/fit-worker.js`): start it, send a [`Request`],
//! receive progress and the [`Outcome`], and cancel.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

use super::{Outcome, Request, Snapshot};

/// What the worker says.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Loaded: whether it computes on rayon's web workers, and on how many.
    Ready {
        /// Threaded build.
        threaded: bool,
        /// Worker threads (0: single-threaded).
        workers: usize,
    },
    /// A progress snapshot.
    Progress(Snapshot),
    /// The fit ended; `ms` is its duration measured in the worker.
    Done {
        /// The result.
        outcome: Box<Outcome>,
        /// Milliseconds.
        ms: f64,
    },
    /// The fit (or the worker) failed; the text says why.
    Failed(String),
}

fn field(data: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(data, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

fn decode(data: &JsValue) -> Message {
    let kind = field(data, "kind").as_string().unwrap_or_default();
    match kind.as_str() {
        "ready" => Message::Ready {
            threaded: field(data, "threaded").as_bool().unwrap_or(false),
            workers: field(data, "workers").as_f64().unwrap_or(0.0) as usize,
        },
        "progress" => {
            let text = field(data, "snapshot").as_string().unwrap_or_default();
            match serde_json::from_str(&text) {
                Ok(s) => Message::Progress(s),
                Err(e) => Message::Failed(format!("the fit worker sent unreadable progress: {e}")),
            }
        }
        "done" => {
            let bytes = js_sys::Uint8Array::new(&field(data, "outcome")).to_vec();
            match postcard::from_bytes::<Outcome>(&bytes) {
                Ok(outcome) => Message::Done {
                    outcome: Box::new(outcome),
                    ms: field(data, "ms").as_f64().unwrap_or(f64::NAN),
                },
                Err(e) => Message::Failed(format!("the fit worker sent an unreadable result: {e}")),
            }
        }
        "error" => Message::Failed(
            field(data, "message")
                .as_string()
                .unwrap_or_else(|| "the fit failed".into()),
        ),
        other => Message::Failed(format!("the fit worker sent an unknown message {other:?}")),
    }
}

/// A running fit worker; dropping it terminates the worker and any fit in it.
pub struct FitWorker {
    worker: Worker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

impl FitWorker {
    /// Starts the worker; every message goes to `on`.
    pub fn spawn(on: impl Fn(Message) + Clone + 'static) -> Result<Self, String> {
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = Worker::new_with_options(&crate::assets::url("fit-worker.js"), &options)
            .map_err(|e| format!("the browser cannot start the fit worker: {e:?}"))?;
        let on_msg = on.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            on_msg(decode(&e.data()))
        });
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |e: ErrorEvent| {
            on(Message::Failed(format!(
                "the fit worker failed: {}",
                if e.message().is_empty() {
                    "it could not load (is fit-worker.js served beside the page?)".to_string()
                } else {
                    e.message()
                }
            )));
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Self {
            worker,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    /// Sends `request` to the worker (queued there until it has loaded).
    pub fn start(&self, request: &Request) -> Result<(), String> {
        let bytes = postcard::to_allocvec(request)
            .map_err(|e| format!("the request could not be encoded: {e}"))?;
        let array = js_sys::Uint8Array::from(bytes.as_slice());
        let message = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&message, &"kind".into(), &"fit".into());
        let _ = js_sys::Reflect::set(&message, &"request".into(), &array);
        let transfer = js_sys::Array::of1(&array.buffer());
        self.worker
            .post_message_with_transfer(&message, &transfer)
            .map_err(|e| format!("the fit worker refused the request: {e:?}"))
    }

    /// Asks the running fit to stop at its next step (threaded build).
    pub fn cancel(&self) {
        let message = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&message, &"kind".into(), &"cancel".into());
        let _ = self.worker.post_message(&message);
    }
}

impl Drop for FitWorker {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}
