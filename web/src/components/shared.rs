//! The page of a share link (`/s/{token}`): the shared result, read-only — no data input,
//! no form, no fit buttons — read from the node's open share routes, so the viewer needs
//! neither the sender's login nor their files.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::result_view::ResultView;
use crate::remote::{self, Source};

/// The shared result of `token`.
#[component]
pub fn SharedView(token: String) -> impl IntoView {
    let loaded = RwSignal::new(None::<Result<_, String>>);
    let source = Source::Share(token.clone());
    spawn_local(async move {
        loaded.set(Some(remote::result_of("", &source).await));
    });
    let download = format!("/api/shared/{token}/fit.npz");
    view! {
        <header>
            <h1>"Heterodyne XPCS"</h1>
            <p id="read-only" class="note">"Read-only shared result"</p>
        </header>
        <main>
            <section class="results" id="shared">
                {move || match loaded.get() {
                    None => view! { <p id="status" role="status">"loading the shared result …"</p> }.into_any(),
                    Some(Err(e)) => view! { <p id="error" role="alert" class="error">{e}</p> }.into_any(),
                    Some(Ok((o, d))) => view! {
                        <p id="status" role="status">{format!("shared fit: {}", o.summary())}</p>
                        <p><a id="download-fit" href=download.clone() download="fit.npz">"Download fit.npz"</a></p>
                        <ResultView outcome=o data=d/>
                    }.into_any(),
                }}
            </section>
        </main>
    }
}
