//! Progress of long work, reported to whoever runs it. The library never draws anything: the
//! CLI turns these calls into progress bars, a library user may log them or pass [`Quiet`].

/// Something that shows progress: it starts one [`Task`] per long stage.
pub trait Progress: Sync {
    /// Starts a task named `what` of `total` steps (0 while the total is not known yet).
    fn start(&self, what: &str, total: u64) -> Box<dyn Task + '_>;
}

/// One running task; it ends when dropped.
pub trait Task: Send + Sync {
    fn set_total(&self, total: u64);
    fn set_done(&self, done: u64);
    fn set_message(&self, message: String);
}

/// Shows nothing: for tests and for library users who log instead.
pub struct Quiet;

struct QuietTask;

impl Progress for Quiet {
    fn start(&self, _what: &str, _total: u64) -> Box<dyn Task + '_> {
        Box::new(QuietTask)
    }
}

impl Task for QuietTask {
    fn set_total(&self, _total: u64) {}
    fn set_done(&self, _done: u64) {}
    fn set_message(&self, _message: String) {}
}
