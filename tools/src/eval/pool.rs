//! The worker pool behind `neco eval` and `neco anchors`: codings run on `jobs` threads, and
//! each finished row is appended to the CSV as it arrives (so an interrupted run keeps what it
//! finished), with a progress bar.

use super::{ImageRow, RowWriter};
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{mpsc, Mutex};

/// Runs `tasks` on up to `jobs` threads. Each worker builds its state once with `init(worker)`
/// (e.g. loads a model, makes a scratch folder), then codes tasks with `work`. Rows go to the
/// CSV at `csv_path`. On the first error the remaining tasks are dropped (running ones finish)
/// and that error is returned; `program` prefixes the error lines printed above the bar.
pub fn run_pool<T: Send, S>(
    tasks: VecDeque<T>,
    jobs: usize,
    quiet: bool,
    csv_path: &Path,
    program: &str,
    init: impl Fn(usize) -> Result<S> + Sync,
    work: impl Fn(&mut S, T) -> Result<ImageRow> + Sync,
) -> Result<()> {
    let total = tasks.len();
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(total as u64) };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} codings, eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let queue = Mutex::new(tasks);
    let next = || queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
    let mut writer = RowWriter::append(csv_path)?;
    let mut first_error = None;
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = mpsc::channel::<Result<ImageRow>>();
        for worker in 0..jobs.max(1).min(total.max(1)) {
            let (tx, init, work, next) = (tx.clone(), &init, &work, &next);
            scope.spawn(move || {
                let mut state = match init(worker) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                while let Some(task) = next() {
                    if tx.send(work(&mut state, task)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for row in rx {
            match row {
                Ok(row) => {
                    bar.set_message(format!(
                        "{} {} q{}: {:.3} bpp {:.2} dB",
                        row.model, row.image, row.quality, row.bpp, row.psnr
                    ));
                    writer.write(&row)?;
                }
                Err(e) => {
                    bar.println(format!("{program}: {e:#}"));
                    first_error.get_or_insert(e);
                    // Stop handing out work; running codings finish.
                    if let Ok(mut q) = queue.lock() {
                        q.clear();
                    }
                }
            }
            bar.inc(1);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    first_error.map_or(Ok(()), Err)
}
