//! Runs a scenario's replays side by side, as many at a time as the machine has cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use arcroute::TaskId;

use crate::engine;
use crate::progress::Progress;
use crate::report::{Report, StrategyResult, WorkloadSummary};
use crate::scenario::RunSpec;
use crate::workload::Workload;

/// Replays the same workload once per run; the report keeps the runs' order.
///
/// # Errors
/// The first run's library error, as text (every run is still attempted).
pub fn simulate_runs(
    w: &Workload,
    reservations: &[(u32, u32)],
    runs: &[RunSpec],
) -> Result<Report, String> {
    let total = (w.calls.len() as u64).saturating_mul(runs.len() as u64);
    let progress = Progress::new("simulating", total);
    let tasks: Vec<TaskId> = w
        .functions
        .iter()
        .map(|f| TaskId::from_name(&f.name))
        .collect();
    // Workers take the next run as they finish one: strategies differ a lot in cost.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(runs.len());
    let next = AtomicUsize::new(0);
    type Slot = Option<Result<StrategyResult, arcroute::Error>>;
    let results: Mutex<Vec<Slot>> = Mutex::new((0..runs.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(run) = runs.get(i) else { break };
                let result =
                    engine::simulate(run.strategy, w, &tasks, reservations, &run.sim, &progress)
                        .map(|mut r| {
                            r.name.clone_from(&run.name);
                            r
                        });
                // A worker that panicked holding the lock left only whole slots behind.
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(result);
            });
        }
    });
    progress.finish();
    let mut strategies = Vec::with_capacity(runs.len());
    let slots = results.into_inner().unwrap_or_else(|p| p.into_inner());
    for (run, slot) in runs.iter().zip(slots) {
        match slot {
            Some(Ok(r)) => strategies.push(r),
            Some(Err(e)) => return Err(format!("{}: {e}", run.name)),
            None => return Err(format!("{}: the replay did not finish", run.name)),
        }
    }
    Ok(Report {
        workload: WorkloadSummary {
            functions: w.functions.len() as u64,
            calls: w.calls.len() as u64,
            minutes: u64::from(w.minutes),
            source: w.source.clone(),
        },
        options: None,
        strategies,
    })
}
