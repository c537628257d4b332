//! The embedded generator of a workload shaped like the Azure Functions 2019 trace.

use rand::seq::SliceRandom;
use rand::Rng as _;
use rand_distr::{Distribution, Poisson, StandardNormal};

use super::*;
use crate::rng::SimRng;

/// Functions in a generated workload.
pub const GEN_FUNCTIONS: usize = 150;
/// Of them, timer-triggered (fixed period, no diurnal cycle).
pub(super) const GEN_TIMERS: usize = 40;
/// Of them, bursty (diurnal, plus occasional bursts of 5-20x for 1-3 minutes).
pub(super) const GEN_BURSTY: usize = 30;
/// Expected calls per day of the non-timer functions together.
pub(super) const GEN_DAILY_CALLS: f64 = 1_450_000.0;
/// Spread of the non-timer functions' daily counts: log10 standard deviation.
pub(super) const GEN_POPULARITY_SIGMA_LOG10: f64 = 1.0;
/// Chance that a bursty function starts a burst in a given minute, when not in one.
pub(super) const GEN_BURST_START: f64 = 0.01;

/// How a generated function's per-minute counts arise.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    /// `per_fire` calls at every minute `m` with `(m + phase) % period == 0`.
    Timer {
        period: u32,
        phase: u32,
        per_fire: u32,
    },
    /// Poisson counts with a diurnal rate.
    Steady,
    /// As `Steady`, with bursts.
    Bursty,
}

/// One generated function's model.
#[derive(Clone, Debug)]
pub(super) struct Model {
    pub(super) kind: Kind,
    /// Expected calls per day (for non-timers).
    pub(super) daily: f64,
    /// Diurnal amplitude (0.4-0.6) and peak minute (around noon).
    pub(super) amplitude: f64,
    pub(super) peak: f64,
    pub(super) durations: Percentiles,
    pub(super) memory_mb: u32,
}

/// An embedded deterministic workload, shaped like the Azure Functions 2019 trace (Shahrad et
/// al., "Serverless in the Wild", ATC 2020), needing no files.
///
/// [`GEN_FUNCTIONS`] (150) functions: 40 timer-triggered ones firing 1-4 calls every 1, 5, 15 or
/// 60 minutes; 30 bursty ones; 80 steady ones. The 110 non-timer functions' expected daily counts
/// are log-normal (log10 spread 1.0, by rank quantiles, so every seed has the same shape: from a
/// few calls a day to ~480k, the top 5 carrying ~65 % of calls) and add up to 1.45 M a day;
/// their per-minute counts are Poisson with a diurnal rate `1 + A·cos(2π(m − peak)/1440)`, `A` in
/// 0.4-0.6 and the peak within an hour and a half of noon, so nights run at about a third of
/// midday. Bursty functions, in 1 % of minutes, start a 1-3 minute burst at 5-20x their rate
/// (their base rate is lowered to keep the daily mean). Durations: per function, a log-normal
/// median (50 ms to 10 s) with a spread, a p99 tail up to 4x heavier than log-normal, and a p100
/// 1.5-5x the p99. Memory: log-normal around 256 MB, clamped to 128-1536 MB.
///
/// About 1.48 M calls a day for seed 1 (1.42-1.51 M over seeds 0-59); minutes 480..600 (8-10 am,
/// on the rising edge) hold 164 k for seed 1 (152-196 k over seeds 0-59).
///
/// `minutes` is clamped to `0..1440`; a range empty after clamping gives a workload without calls
/// (and `minutes` 0). Counts are drawn per absolute minute, so a range's calls are those of the
/// whole day in that range, shifted. Arrivals and durations are as for traces.
pub fn generate(minutes: Range<u32>, arrivals: Arrivals, seed: u64) -> Workload {
    let start = minutes.start.min(DAY_MINUTES);
    let end = minutes.end.min(DAY_MINUTES).max(start);
    let span = (end - start) as usize;
    let models = generate_models(seed);
    let mut counts = vec![0u32; models.len() * span];
    let mut functions = Vec::with_capacity(models.len());
    for (f, model) in models.iter().enumerate() {
        let row = &mut counts[f * span..(f + 1) * span];
        generate_counts(model, seed, f as u64, start, row);
        let kind = match model.kind {
            Kind::Timer { period, .. } => format!("timer{period}m"),
            Kind::Steady => "steady".to_owned(),
            Kind::Bursty => "bursty".to_owned(),
        };
        functions.push(Function {
            name: format!("gen{f:03}-{kind}"),
            memory_mb: model.memory_mb,
            total_calls: row.iter().map(|&c| u64::from(c)).sum(),
        });
    }
    let tables: Vec<Percentiles> = models.iter().map(|m| m.durations).collect();
    let calls = materialize(&counts, &tables, start..end, arrivals, seed);
    Workload {
        functions,
        calls,
        minutes: end - start,
        source: format!("generated (seed {seed})"),
    }
}

/// The functions' models: depend on the seed only.
pub(super) fn generate_models(seed: u64) -> Vec<Model> {
    let mut rng = rng::stream(seed, STREAM_MODEL);
    let mut kinds = Vec::with_capacity(GEN_FUNCTIONS);
    kinds.resize(GEN_TIMERS, Kind::Steady); // replaced below
    for kind in &mut kinds {
        let period = match rng.random::<f64>() {
            u if u < 0.2 => 1,
            u if u < 0.55 => 5,
            u if u < 0.85 => 15,
            _ => 60,
        };
        let per_fire = match rng.random::<f64>() {
            u if u < 0.7 => 1,
            u if u < 0.9 => 2,
            _ => 4,
        };
        *kind = Kind::Timer {
            period,
            phase: rng.random_range(0..period),
            per_fire,
        };
    }
    kinds.resize(GEN_TIMERS + GEN_BURSTY, Kind::Bursty);
    kinds.resize(GEN_FUNCTIONS, Kind::Steady);
    kinds.shuffle(&mut rng);

    // Log-normal popularity by rank quantiles, ranks dealt out at random.
    let others = GEN_FUNCTIONS - GEN_TIMERS;
    let mut weights: Vec<f64> = (0..others)
        .map(|i| {
            10f64
                .powf(GEN_POPULARITY_SIGMA_LOG10 * inverse_normal((i as f64 + 0.5) / others as f64))
        })
        .collect();
    let sum: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|w| *w *= GEN_DAILY_CALLS / sum);
    weights.shuffle(&mut rng);
    let mut weights = weights.into_iter();

    kinds
        .into_iter()
        .map(|kind| {
            let daily = match kind {
                Kind::Timer {
                    period, per_fire, ..
                } => f64::from(DAY_MINUTES / period * per_fire),
                _ => weights.next().unwrap_or(0.0),
            };
            let amplitude = 0.4 + 0.2 * rng.random::<f64>();
            let peak = 720.0 + 180.0 * (rng.random::<f64>() - 0.5);
            let median = (700f64.ln() + 1.0 * normal(&mut rng))
                .exp()
                .clamp(50.0, 10_000.0);
            let spread = 0.2 + 0.8 * rng.random::<f64>();
            let q = |z: f64| median * (spread * z).exp();
            let p1 = q(-2.326);
            let p99 = q(2.326) * (1.0 + 3.0 * rng.random::<f64>());
            let durations = [
                (p1 * (0.5 + 0.4 * rng.random::<f64>())).max(1.0),
                p1.max(1.0),
                q(-0.674).max(1.0),
                median,
                q(0.674),
                p99,
                p99 * (1.5 + 3.5 * rng.random::<f64>()),
            ];
            let memory_mb = (256f64.ln() + 0.6 * normal(&mut rng))
                .exp()
                .clamp(128.0, 1536.0)
                .round() as u32;
            Model {
                kind,
                daily,
                amplitude,
                peak,
                durations,
                memory_mb,
            }
        })
        .collect()
}

/// Function `f`'s counts for minutes `start..start + out.len()`, drawn from its own stream walked
/// from minute 0 so that they do not depend on the range.
pub(super) fn generate_counts(model: &Model, seed: u64, f: u64, start: u32, out: &mut [u32]) {
    let end = start + out.len() as u32;
    let mut rng = rng::stream(seed, STREAM_COUNTS | f);
    // Share of minutes in a burst: bursts of mean length 2 start with chance p when none runs.
    let in_burst = GEN_BURST_START * 2.0 / (1.0 - GEN_BURST_START + GEN_BURST_START * 2.0);
    let burst_gain = 1.0 + in_burst * (12.5 - 1.0);
    let mut burst_left = 0u32;
    let mut burst_mult = 1.0;
    for m in 0..end {
        let count = match model.kind {
            Kind::Timer {
                period,
                phase,
                per_fire,
            } => {
                if (m + phase) % period == 0 {
                    per_fire
                } else {
                    0
                }
            }
            Kind::Steady | Kind::Bursty => {
                let angle =
                    std::f64::consts::TAU * (f64::from(m) - model.peak) / f64::from(DAY_MINUTES);
                let mut rate =
                    model.daily / f64::from(DAY_MINUTES) * (1.0 + model.amplitude * angle.cos());
                if let Kind::Bursty = model.kind {
                    if burst_left == 0 && rng.random::<f64>() < GEN_BURST_START {
                        burst_left = rng.random_range(1..=3);
                        burst_mult = 5.0 + 15.0 * rng.random::<f64>();
                    }
                    rate /= burst_gain;
                    if burst_left > 0 {
                        rate *= burst_mult;
                        burst_left -= 1;
                    }
                }
                poisson(&mut rng, rate)
            }
        };
        if m >= start {
            out[(m - start) as usize] = count;
        }
    }
}

/// A standard normal draw.
pub(super) fn normal(rng: &mut SimRng) -> f64 {
    StandardNormal.sample(rng)
}

/// A Poisson draw at `rate` calls (0 for a rate that is not positive and finite).
pub(super) fn poisson(rng: &mut SimRng, rate: f64) -> u32 {
    match Poisson::new(rate) {
        Ok(d) => d.sample(rng).clamp(0.0, f64::from(u32::MAX)) as u32,
        Err(_) => 0,
    }
}

/// The standard normal quantile at `p` in `(0, 1)` (Acklam's rational approximation; within
/// 2e-5 of the exact value, ample for shaping a popularity curve).
pub(super) fn inverse_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_671_666_254_16,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let low = 0.024_25;
    if p < low {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - low {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}
