//! Progress on the terminal: an indicatif spinner with the iteration and χ², hidden when
//! stderr is not a terminal or with `--quiet`.

use std::time::Duration;

use heterodyne_core::exec::{Event, Flow, Observer};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A spinner fed by core events.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A spinner labelled `what`; invisible when `quiet` or not on a terminal.
    pub fn new(what: &str, quiet: bool) -> Self {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar }
    }

    /// Clears the spinner.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for Progress {
    fn on(&self, event: &Event) -> Flow {
        match event {
            Event::Iteration { iteration, cost } => {
                self.bar
                    .set_message(format!("iteration {iteration}  χ² = {cost:.6e}"));
            }
            Event::PhaseStarted(name) => self.bar.set_message(format!("{name} …")),
            Event::Note(text) if !text.is_empty() => self.bar.println(text),
            _ => {}
        }
        Flow::Continue
    }
}
