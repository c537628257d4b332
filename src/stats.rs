//! What a platform exports: [`Stats`], summed from per-thread event tallies and the live
//! map's shards, and [`Metric`], each of its fields as an exporter sees it.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

#[cfg(doc)]
use crate::{RouteKind, Router};

/// Whether a [`Metric`] only grows or describes the moment of the read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Only grows while the router lives (Prometheus `counter`).
    Counter,
    /// Rises and falls; the value at the read (Prometheus `gauge`).
    Gauge,
}

impl MetricKind {
    /// The kind as Prometheus' text exposition format names it: `"counter"` or `"gauge"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
        }
    }
}

/// One field of [`Stats`] as an exporter sees it, from [`Stats::metrics`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Metric {
    /// The field's name, as in [`Stats`] (`snake_case`, ASCII: a valid Prometheus name once
    /// given a prefix such as `arcroute_`).
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: MetricKind,
    /// One line saying what it counts, plain text (a Prometheus `# HELP` line).
    pub help: &'static str,
    /// The value at the read.
    pub value: u64,
}

/// Declares [`Stats`] once: the struct, its field docs, [`Stats::metrics`] and, with the
/// `metrics` feature, [`Stats::record`] and [`Stats::describe`] all come from the one list, so
/// an exporter cannot miss a field.
macro_rules! stats {
    ($(
        $(#[doc = $doc:literal])*
        $kind:ident $name:ident: $help:literal;
    )*) => {
        /// Counters and gauges a platform exports, summed when read ([`Router::stats`]).
        ///
        /// Counters only grow while the router lives. Gauges (the in-flight counts,
        /// `live_entries`, `reserved_tasks`) describe the moment of the read; with no permit
        /// out, both in-flight gauges are zero. To export every field without listing them,
        /// iterate [`Stats::metrics`]; with the `metrics` feature, [`Stats::record`] hands them
        /// to the `metrics` crate's recorder.
        ///
        /// # Examples
        ///
        /// Prometheus' text exposition format, rendered from the iterator:
        ///
        /// ```
        /// use std::fmt::Write as _;
        ///
        /// use arcroute::{ManagerId, MetricKind, Router, TaskId};
        ///
        /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// let router = Router::builder()
        ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
        ///     .build()?;
        /// let _call = router.route(TaskId::new(1)).expect("a healthy manager");
        ///
        /// let mut text = String::new();
        /// for m in router.stats().metrics() {
        ///     // Prometheus names counters with a `_total` suffix.
        ///     let suffix = if m.kind == MetricKind::Counter { "_total" } else { "" };
        ///     let name = format!("arcroute_{}{suffix}", m.name);
        ///     writeln!(text, "# HELP {name} {}", m.help)?;
        ///     writeln!(text, "# TYPE {name} {}", m.kind.as_str())?;
        ///     writeln!(text, "{name} {}", m.value)?;
        /// }
        /// assert!(text.contains(
        ///     "# TYPE arcroute_routes_unreserved_total counter\n\
        ///      arcroute_routes_unreserved_total 1\n"
        /// ));
        /// assert!(text.contains(
        ///     "# TYPE arcroute_in_flight_unreserved gauge\n\
        ///      arcroute_in_flight_unreserved 1\n"
        /// ));
        /// # Ok(())
        /// # }
        /// ```
        #[non_exhaustive]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct Stats {
            $(
                $(#[doc = $doc])*
                pub $name: u64,
            )*
        }

        impl Stats {
            /// How many fields [`Stats`] has: the length of [`Stats::metrics`].
            pub const LEN: usize = [$(stringify!($name)),*].len();

            /// Every field, in declaration order, with its name, kind and a help line. O(1):
            /// [`Stats::LEN`] items, no allocation.
            ///
            /// # Examples
            /// ```
            /// use arcroute::{MetricKind, Stats};
            ///
            /// let stats = Stats::default();
            /// assert_eq!(stats.metrics().len(), Stats::LEN);
            /// let live = stats.metrics().find(|m| m.name == "live_entries").expect("a field");
            /// assert_eq!((live.kind, live.value), (MetricKind::Gauge, 0));
            /// ```
            pub fn metrics(&self) -> impl ExactSizeIterator<Item = Metric> + Clone {
                [$(
                    Metric {
                        name: stringify!($name),
                        kind: MetricKind::$kind,
                        help: $help,
                        value: self.$name,
                    },
                )*]
                .into_iter()
            }

            /// Records every field in the `metrics` crate's current recorder, named
            /// `arcroute_` and the field's name: counters as absolute values
            /// ([`metrics::Counter::absolute`]), gauges set ([`metrics::Gauge::set`]; exact
            /// below 2^53). O([`Stats::LEN`]) plus the recorder's cost; call it on each scrape
            /// or on a timer, after [`Router::stats`].
            ///
            /// # Examples
            /// ```
            /// use arcroute::{ManagerId, Router};
            ///
            /// # fn main() -> Result<(), arcroute::Error> {
            /// let router = Router::builder()
            ///     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
            ///     .build()?;
            /// arcroute::Stats::describe(); // once, for the exporter's help lines
            /// router.stats().record(); // on each scrape
            /// # Ok(())
            /// # }
            /// ```
            #[cfg(feature = "metrics")]
            #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
            pub fn record(&self) {
                $(
                    stats!(@record $kind, concat!("arcroute_", stringify!($name)), self.$name);
                )*
            }

            /// Describes every field to the `metrics` crate's current recorder: its kind and
            /// help line, under the names [`Stats::record`] uses. Call it once, after installing
            /// the recorder. O([`Stats::LEN`]).
            #[cfg(feature = "metrics")]
            #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
            pub fn describe() {
                $(
                    stats!(@describe $kind, concat!("arcroute_", stringify!($name)), $help);
                )*
            }
        }
    };
    (@record Counter, $key:expr, $value:expr) => {
        metrics::counter!($key).absolute($value)
    };
    (@record Gauge, $key:expr, $value:expr) => {
        // `metrics` gauges are `f64`; the counts here stay far below 2^53.
        metrics::gauge!($key).set($value as f64)
    };
    (@describe Counter, $key:expr, $help:expr) => {
        metrics::describe_counter!($key, $help)
    };
    (@describe Gauge, $key:expr, $help:expr) => {
        metrics::describe_gauge!($key, $help)
    };
}

stats! {
    /// Generation of the current snapshot: 1 when the router is built, one more for each
    /// publish by a writer (so publishes are this less 1).
    Counter generation: "Generation of the current snapshot: 1 at build, one more for each publish.";
    /// Routes of kind [`RouteKind::Reserved`].
    Counter routes_reserved: "Calls routed within their reservation, to the reserved arc.";
    /// Routes of kind [`RouteKind::Unreserved`].
    Counter routes_unreserved: "Calls of tasks without a reservation, routed to their group's arc.";
    /// Routes of kind [`RouteKind::Spillover`].
    Counter routes_spillover: "Calls beyond their reservation, routed to the unreserved arc.";
    /// Calls that left the reserved arc for the unreserved one: spillover routes plus reserved
    /// calls that [`Router::on_throttle`] moved off the reserved arc (every slot holding
    /// environments tried, or the reservation lowered or removed meanwhile).
    Counter spillovers: "Calls that left the reserved arc: spillovers, throttled reserved calls.";
    /// Throttle reports ([`Router::on_throttle`] calls).
    Counter throttles: "Throttle reports: a manager refused a call.";
    /// Throttle reports that found no further manager to try.
    Counter throttles_exhausted: "Throttle reports that found no further manager to try.";
    /// Times an unreserved arc gained a manager.
    Counter arc_grows: "Times an unreserved arc gained a manager.";
    /// Times an unreserved arc lost a manager.
    Counter arc_shrinks: "Times an unreserved arc lost a manager.";
    /// Live entries evicted as idle.
    Counter evictions: "Idle live entries evicted.";
    /// Routes refused because no manager was healthy.
    Counter no_manager: "Routes refused because no manager was healthy.";
    /// Calls in flight on reserved arcs.
    Gauge in_flight_reserved: "Calls in flight on reserved arcs.";
    /// Calls in flight on unreserved arcs.
    Gauge in_flight_unreserved: "Calls in flight on unreserved arcs (unreserved and spillover).";
    /// Tasks and groups with live state.
    Gauge live_entries: "Tasks and groups with live state.";
    /// Tasks with a reservation.
    Gauge reserved_tasks: "Tasks with a reservation.";
}

impl Stats {
    /// Adds one stripe's tallies.
    pub(crate) fn add(&mut self, t: &Tallies) {
        self.routes_reserved += t.reserved.load(Relaxed);
        self.routes_unreserved += t.unreserved.load(Relaxed);
        self.routes_spillover += t.spillover.load(Relaxed);
        self.spillovers += t.spillover.load(Relaxed) + t.spilled_on_throttle.load(Relaxed);
        self.throttles += t.throttles.load(Relaxed);
        self.throttles_exhausted += t.throttles_exhausted.load(Relaxed);
        self.arc_grows += t.grows.load(Relaxed);
        self.arc_shrinks += t.shrinks.load(Relaxed);
        self.no_manager += t.no_manager.load(Relaxed);
    }
}

/// Monotonic event tallies of one stripe of [`Striped`]; summed into [`Stats`]. On cache lines
/// of its own, so that threads counting on two stripes write no line in common.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Tallies {
    pub(crate) reserved: AtomicU64,
    pub(crate) unreserved: AtomicU64,
    pub(crate) spillover: AtomicU64,
    pub(crate) spilled_on_throttle: AtomicU64,
    pub(crate) throttles: AtomicU64,
    pub(crate) throttles_exhausted: AtomicU64,
    pub(crate) grows: AtomicU64,
    pub(crate) shrinks: AtomicU64,
    pub(crate) no_manager: AtomicU64,
}

/// Stripes of [`Striped`], a power of two: threads past this many share stripes (still
/// correct, only less apart).
#[cfg(not(arcroute_loom))]
const THREAD_STRIPES: usize = 64;
#[cfg(arcroute_loom)]
const THREAD_STRIPES: usize = 1;

/// A router's event tallies, striped by thread: each thread counts its routes on a stripe of
/// its own (as long as there are no more threads than stripes), so that routes of distinct
/// tasks on two threads write no cache line in common. A read sums every stripe.
#[derive(Debug)]
pub(crate) struct Striped(Box<[Tallies; THREAD_STRIPES]>);

impl Striped {
    pub(crate) fn new() -> Self {
        Self(Box::new(std::array::from_fn(|_| Tallies::default())))
    }

    /// The calling thread's stripe.
    #[inline]
    pub(crate) fn here(&self) -> &Tallies {
        &self.0[thread_stripe() & (THREAD_STRIPES - 1)]
    }

    /// Adds every stripe's tallies to `stats`.
    pub(crate) fn sum_into(&self, stats: &mut Stats) {
        for tallies in self.0.iter() {
            stats.add(tallies);
        }
    }
}

/// The calling thread's stripe number: taken in turn when the thread first counts, then
/// kept (a thread-local read after that).
#[inline]
fn thread_stripe() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;

    /// Not yet taken.
    const UNSET: usize = usize::MAX;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(UNSET) };
    }
    // The local has no destructor, so it is never gone; were it, stripe 0 would do.
    STRIPE
        .try_with(|stripe| match stripe.get() {
            UNSET => {
                let taken = NEXT.fetch_add(1, Relaxed) & (THREAD_STRIPES - 1);
                stripe.set(taken);
                taken
            }
            taken => taken,
        })
        .unwrap_or(0)
}

/// Counts one event.
#[inline]
pub(crate) fn bump(tally: &AtomicU64) {
    tally.fetch_add(1, Relaxed);
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_field_is_a_metric_once() {
        // Every field is a `u64` declared in the one list, so the struct's size counts them.
        assert_eq!(std::mem::size_of::<Stats>(), Stats::LEN * 8);
        let names: HashSet<_> = Stats::default().metrics().map(|m| m.name).collect();
        assert_eq!(names.len(), Stats::LEN, "names are distinct");
        for name in names {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name} is a valid Prometheus name"
            );
        }
    }

    #[test]
    fn metrics_carry_each_fields_value_and_kind() {
        let stats = Stats {
            generation: 1,
            routes_reserved: 2,
            routes_unreserved: 3,
            routes_spillover: 4,
            spillovers: 5,
            throttles: 6,
            throttles_exhausted: 7,
            arc_grows: 8,
            arc_shrinks: 9,
            evictions: 10,
            no_manager: 11,
            in_flight_reserved: 12,
            in_flight_unreserved: 13,
            live_entries: 14,
            reserved_tasks: 15,
        };
        let values: Vec<u64> = stats.metrics().map(|m| m.value).collect();
        assert_eq!(values, (1..=15).collect::<Vec<_>>());
        let gauges: Vec<&str> = stats
            .metrics()
            .filter(|m| m.kind == MetricKind::Gauge)
            .map(|m| m.name)
            .collect();
        assert_eq!(
            gauges,
            [
                "in_flight_reserved",
                "in_flight_unreserved",
                "live_entries",
                "reserved_tasks"
            ]
        );
        assert!(stats
            .metrics()
            .all(|m| !m.help.is_empty() && !m.help.contains('\n')));
    }
}
