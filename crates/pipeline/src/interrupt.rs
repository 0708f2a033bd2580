//! Ctrl-C, SIGTERM and SIGHUP. While training watches for them (`Watch`), they ask its loop to
//! write a checkpoint and stop; at any other moment they end the process at once (exit status
//! 130, as a shell reports Ctrl-C). That loses nothing: every stage writes its outputs to a
//! temporary file renamed into place (`splat run` sweeps the temporaries a stopped run left),
//! and a rerun resumes from what is complete. Without this, a signal that came after a
//! training stage of `splat run` only set a flag nobody read any more, and compression went on
//! as if it had not been asked to stop.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

static WATCHED: AtomicBool = AtomicBool::new(false);
static REQUESTED: AtomicBool = AtomicBool::new(false);

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another handler already set (a library's) keeps its own behaviour.
        let _ = ctrlc::set_handler(|| {
            if WATCHED.load(Ordering::SeqCst) {
                REQUESTED.store(true, Ordering::SeqCst);
            } else {
                eprintln!("interrupted");
                end_now(130);
            }
        });
    });
}

/// Ends the process without running exit handlers: `std::process::exit` runs them while other
/// threads may still be inside the GPU driver, whose own teardown then aborted (SIGABRT) in
/// about half the tries on lavapipe.
#[allow(unsafe_code)] // audited: each unsafe block below says why it is sound
fn end_now(code: i32) -> ! {
    #[cfg(unix)]
    // SAFETY: _exit takes no pointers and does not return.
    unsafe {
        libc::_exit(code)
    }
    #[cfg(not(unix))]
    std::process::exit(code)
}

/// Interruptions are the holder's to handle (through `requested`) until it is dropped.
pub struct Watch(());

impl Watch {
    pub fn new() -> Self {
        install();
        REQUESTED.store(false, Ordering::SeqCst);
        WATCHED.store(true, Ordering::SeqCst);
        Self(())
    }

    /// Set when an interruption came while watched.
    pub fn requested(&self) -> &'static AtomicBool {
        &REQUESTED
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        WATCHED.store(false, Ordering::SeqCst);
    }
}
