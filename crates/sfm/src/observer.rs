//! How the front end's long steps (extraction, pair selection, matching, verification) tell
//! their caller about progress and problems: the CLI draws bars from it, tests stay silent.

/// Told about progress; every method has a no-op default.
pub trait Observer: Sync {
    fn begin(&self, _step: &str, _total: usize) {}
    fn tick(&self) {}
    fn end(&self) {}
    fn warn(&self, _message: &str) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}
