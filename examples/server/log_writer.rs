//! Where log lines go: appended to a buffer in memory by the thread that logs,
//! and written out by a background thread in batches.
//!
//! The request path never does I/O for its log line and never wakes another
//! thread for it: a line is one append under a mutex. The writer thread
//! sleeps until the first line of a batch arrives, lets the batch gather for
//! [`GATHER`] (or until [`BATCH`] bytes wait), then writes it in one call.
//! tracing-appender's non-blocking writer, used before, woke its worker for
//! nearly every line under load: a futex wake and two context switches per
//! request, more CPU than formatting the line (BENCHMARKS.md, "Request logs").
//!
//! If the output stalls (a full pipe) and more than the configured bound
//! waits, new lines are dropped and counted, and a note with the count is
//! written once the output moves again. Dropping the [`Flush`] guard writes
//! what is pending and stops the thread.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// How long the first line of a batch waits for others.
const GATHER: Duration = Duration::from_millis(50);
/// A batch this large is written without waiting for [`GATHER`] to pass.
const BATCH: usize = 64 * 1024;
/// The most bytes waiting before lines are dropped.
pub const MAX_PENDING: usize = 8 * 1024 * 1024;

/// The [`MakeWriter`] for the fmt layer; cheap to use from any thread.
#[derive(Clone, Debug)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Writes what is pending and stops the writer thread when dropped.
#[derive(Debug)]
pub struct Flush {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    max_pending: usize,
}

#[derive(Debug, Default)]
struct State {
    pending: Vec<u8>,
    dropped: u64,
    closing: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Starts the writer thread over `out` (standard error in the server).
pub fn spawn(
    out: impl Write + Send + 'static,
    max_pending: usize,
) -> io::Result<(LogWriter, Flush)> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        wake: Condvar::new(),
        max_pending,
    });
    let thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || run(&shared, out))?
    };
    Ok((
        LogWriter {
            shared: shared.clone(),
        },
        Flush {
            shared,
            thread: Some(thread),
        },
    ))
}

/// The writer thread: waits for a first line, gathers, writes, repeats.
fn run(shared: &Shared, mut out: impl Write) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let mut state = shared.lock();
        while state.pending.is_empty() && state.dropped == 0 && !state.closing {
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let first = Instant::now();
        while !state.closing && state.pending.len() < BATCH {
            let left = GATHER.saturating_sub(first.elapsed());
            if left.is_zero() {
                break;
            }
            state = shared
                .wake
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        std::mem::swap(&mut state.pending, &mut batch);
        let dropped = std::mem::take(&mut state.dropped);
        let closing = state.closing;
        drop(state);
        // Nowhere to report a failing standard error: the lines are lost.
        let _ = out.write_all(&batch);
        if dropped > 0 {
            let _ = writeln!(
                out,
                "{dropped} log lines dropped: the output did not keep up"
            );
        }
        let _ = out.flush();
        batch.clear();
        if batch.capacity() > 4 * BATCH {
            batch.shrink_to(BATCH);
        }
        if closing {
            return;
        }
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One event's line, appended whole.
#[derive(Debug)]
pub struct Line<'a> {
    shared: &'a Shared,
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            shared: &self.shared,
        }
    }
}

impl Write for Line<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut state = self.shared.lock();
        if state.pending.len() + line.len() > self.shared.max_pending {
            state.dropped += 1;
            return Ok(line.len());
        }
        let was_empty = state.pending.is_empty();
        state.pending.extend_from_slice(line);
        let full = state.pending.len() >= BATCH && state.pending.len() - line.len() < BATCH;
        drop(state);
        // Wake the writer for a batch's first line and when it fills up; not
        // for the lines in between.
        if was_empty || full {
            self.shared.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test reads, which can be made to stall.
    #[derive(Clone, Default)]
    struct Output {
        bytes: Arc<Mutex<Vec<u8>>>,
        stalled: Arc<Mutex<()>>,
    }

    impl Write for Output {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _stall = self.stalled.lock().unwrap();
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Output {
        fn text(&self) -> String {
            String::from_utf8(self.bytes.lock().unwrap().clone()).unwrap()
        }
    }

    fn log(writer: &LogWriter, line: &str) {
        writer.make_writer().write_all(line.as_bytes()).unwrap();
    }

    #[test]
    fn lines_come_out_whole_and_in_order_and_dropping_the_guard_flushes() {
        let output = Output::default();
        let (writer, flush) = spawn(output.clone(), MAX_PENDING).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        log(&writer, &format!("thread {t} line {i}\n"));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(flush);
        let text = output.text();
        assert_eq!(text.lines().count(), 4000);
        for t in 0..4 {
            let numbers: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("thread {t} line ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(numbers, (0..1000).collect::<Vec<_>>(), "thread {t}");
        }
    }

    #[test]
    fn a_lone_line_is_written_without_waiting_for_more() {
        let output = Output::default();
        let (writer, _flush) = spawn(output.clone(), MAX_PENDING).unwrap();
        log(&writer, "only line\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        while output.text().is_empty() {
            assert!(Instant::now() < deadline, "the line was never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(output.text(), "only line\n");
    }

    #[test]
    fn a_stalled_output_drops_lines_beyond_the_bound_and_says_how_many() {
        let output = Output::default();
        let stall = output.stalled.lock().unwrap();
        let (writer, flush) = spawn(output.clone(), 100).unwrap();
        // The first line is taken by the writer thread, which then blocks on
        // the stalled output; wait until it has taken it.
        log(&writer, "first\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !writer.shared.lock().pending.is_empty() {
            assert!(Instant::now() < deadline, "the writer never took a batch");
            std::thread::sleep(Duration::from_millis(5));
        }
        for i in 0..50 {
            log(&writer, &format!("line {i:02}\n")); // 8 bytes each
        }
        drop(stall);
        drop(flush);
        let text = output.text();
        let kept = text.lines().filter(|l| l.starts_with("line ")).count();
        assert_eq!(kept, 12, "100 bytes hold 12 lines of 8:\n{text}");
        assert!(text.starts_with("first\nline 00\n"), "{text}");
        assert!(text.contains("38 log lines dropped"), "{text}");
    }
}
