//! Wall and CPU time of a step (CPU time of the whole process, all threads, via getrusage).

use std::time::Instant;

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepTime {
    pub wall_s: f64,
    pub cpu_s: f64,
}

/// Process CPU time (user + system) in seconds; 0 where the platform has no getrusage.
#[allow(unsafe_code)] // audited: each unsafe block below says why it is sound
pub fn process_cpu_seconds() -> f64 {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage writes a complete rusage into the zeroed buffer we own.
        let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0;
        if !ok {
            return 0.0;
        }
        // SAFETY: initialised by the successful call above (and zeroed before it).
        let u = unsafe { usage.assume_init() };
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        tv(u.ru_utime) + tv(u.ru_stime)
    }
    #[cfg(not(unix))]
    {
        0.0
    }
}

impl std::ops::AddAssign for StepTime {
    fn add_assign(&mut self, other: Self) {
        self.wall_s += other.wall_s;
        self.cpu_s += other.cpu_s;
    }
}

/// Times a closure.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, StepTime) {
    let (wall, cpu) = (Instant::now(), process_cpu_seconds());
    let out = f();
    let time = StepTime {
        wall_s: wall.elapsed().as_secs_f64(),
        cpu_s: process_cpu_seconds() - cpu,
    };
    (out, time)
}

/// Peak resident memory of the process so far, bytes (0 where unknown).
#[allow(unsafe_code)] // audited: each unsafe block below says why it is sound
pub fn peak_memory_bytes() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: as in `process_cpu_seconds`.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
            return 0;
        }
        // SAFETY: initialised by the successful call above.
        let u = unsafe { usage.assume_init() };
        u.ru_maxrss as u64 * 1024
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}
