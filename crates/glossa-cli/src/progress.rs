//! Progress bars on the terminal for the library's [`glossa::progress::Progress`] reports
//! (hidden when stderr is not a terminal, where the library's log lines tell the story).

use glossa::progress::{Progress, Task};
use indicatif::{ProgressBar, ProgressStyle};

/// Draws one indicatif bar per task.
pub struct Bars;

struct Bar(ProgressBar);

impl Progress for Bars {
    fn start(&self, what: &str, total: u64) -> Box<dyn Task + '_> {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg:>18} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        Box::new(Bar(bar))
    }
}

impl Task for Bar {
    fn set_total(&self, total: u64) {
        self.0.set_length(total);
    }
    fn set_done(&self, done: u64) {
        self.0.set_position(done);
    }
    fn set_message(&self, message: String) {
        self.0.set_message(message);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
