//! A progress line on stderr for long steps of apply, verify, destroy and demo: once a step has
//! run for more than a second, `… STEP (Ns)` appears and updates in place until the step ends,
//! when it is erased before the step's own line is printed. Only when stderr is a terminal:
//! piped or redirected output gets nothing extra.

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a step runs before its progress line appears.
const AFTER: Duration = Duration::from_secs(1);
/// How often the line is redrawn.
const TICK: Duration = Duration::from_millis(250);

/// The progress line of a step that has run for `elapsed`, cut to `width` columns so that it
/// stays on one line (and `\r` can redraw it).
pub fn line(step: &str, elapsed: Duration, width: usize) -> String {
    let suffix = format!(" ({}s)", elapsed.as_secs());
    let room = width.saturating_sub(suffix.chars().count() + 2).max(8);
    let step: String = if step.chars().count() > room {
        let mut s: String = step.chars().take(room.saturating_sub(1)).collect();
        s.push('…');
        s
    } else {
        step.to_string()
    };
    format!("… {step}{suffix}")
}

struct Shared {
    step: String,
    since: Instant,
    shown: bool,
}

impl Shared {
    fn erase(&mut self) {
        if self.shown {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K");
            let _ = e.flush();
            self.shown = false;
        }
    }
}

/// The drawing thread and what it shares.
type Live = (
    Arc<Mutex<Shared>>,
    Arc<AtomicBool>,
    std::thread::JoinHandle<()>,
);

/// The running step's progress line; inert (prints nothing) unless stderr is a terminal.
pub struct Progress {
    live: Option<Live>,
}

impl Progress {
    /// Starts timing `step`, drawing on stderr only if it is a terminal.
    pub fn start(step: &str) -> Progress {
        Progress::start_if(std::io::stderr().is_terminal(), step)
    }

    /// Starts timing `step`; draws only if `enabled`.
    pub fn start_if(enabled: bool, step: &str) -> Progress {
        if !enabled {
            return Progress { live: None };
        }
        let shared = Arc::new(Mutex::new(Shared {
            step: step.to_string(),
            since: Instant::now(),
            shown: false,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (shared.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                let Ok(mut g) = s.lock() else { return };
                let elapsed = g.since.elapsed();
                if st.load(Ordering::Relaxed) || elapsed <= AFTER || g.step.is_empty() {
                    continue;
                }
                let text = line(&g.step, elapsed, crate::output::terminal_width());
                let mut e = std::io::stderr().lock();
                let _ = write!(e, "\r\x1b[2K{text}");
                let _ = e.flush();
                g.shown = true;
            }
        });
        Progress {
            live: Some((shared, stop, handle)),
        }
    }

    /// Erases the line (before printing a step's result) and starts timing the next step.
    pub fn next(&self, step: &str) {
        if let Some((s, _, _)) = &self.live
            && let Ok(mut g) = s.lock()
        {
            g.erase();
            g.step = step.to_string();
            g.since = Instant::now();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some((s, stop, handle)) = self.live.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
            if let Ok(mut g) = s.lock() {
                g.erase();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_step_and_whole_seconds() {
        let l = line(
            "step 3/8: create the bucket",
            Duration::from_millis(2700),
            80,
        );
        assert_eq!(l, "… step 3/8: create the bucket (2s)");
        let long = "x".repeat(200);
        let l = line(&long, Duration::from_secs(12), 60);
        assert!(l.chars().count() <= 60, "{l}");
        assert!(l.ends_with("… (12s)"), "{l}");
        assert!(line("s", Duration::from_secs(1), 0).starts_with("… s"));
    }

    #[test]
    fn off_a_terminal_it_draws_nothing() {
        // inert: no thread, and next and drop are no-ops
        let p = Progress::start_if(false, "step 1");
        assert!(p.live.is_none());
        p.next("step 2");
        drop(p);
        // `start` follows stderr, which is not a terminal under the test harness
        if !std::io::stderr().is_terminal() {
            assert!(Progress::start("step").live.is_none());
        }
    }
}
