//! The `metrics` feature: `Stats::record` and `Stats::describe` hand every field of `Stats` to
//! the `metrics` crate's recorder, under the names and kinds `Stats::metrics` gives.

mod support;

use std::collections::HashMap;

use arcroute::{MetricKind, Router, Stats, TaskId};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind as RecordedKind;
use support::m;

/// What the recorder holds after `record`: name → (kind, value, help).
type Recorded = HashMap<String, (RecordedKind, DebugValue, Option<String>)>;

fn record(stats: &Stats) -> Recorded {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        Stats::describe();
        stats.record();
    });
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _unit, help, value)| {
            let name = key.key().name().to_owned();
            (name, (key.kind(), value, help.map(|h| h.to_string())))
        })
        .collect()
}

#[test]
fn record_exports_every_field_with_its_kind_value_and_help() {
    let router = Router::builder()
        .managers((0..4).map(|i| (m(i), 1)))
        .build()
        .expect("a valid fleet");
    let task = TaskId::new(7);
    router.set_reservation(task, 1);
    router.set_ready(task, 1).expect("a reservation");
    let reserved = router.route(task).expect("a healthy manager");
    let spilled = router.route(task).expect("a healthy manager");
    let other = router.route(TaskId::new(8)).expect("a healthy manager");
    let stats = router.stats();
    assert_eq!(
        (
            stats.routes_reserved,
            stats.routes_spillover,
            stats.routes_unreserved
        ),
        (1, 1, 1)
    );

    let recorded = record(&stats);
    assert_eq!(
        recorded.len(),
        Stats::LEN,
        "one metric per field: {recorded:?}"
    );
    for metric in stats.metrics() {
        let name = format!("arcroute_{}", metric.name);
        let (kind, value, help) = recorded
            .get(&name)
            .unwrap_or_else(|| panic!("{name} recorded"));
        match metric.kind {
            MetricKind::Counter => {
                assert_eq!(*kind, RecordedKind::Counter, "{name}");
                assert_eq!(*value, DebugValue::Counter(metric.value), "{name}");
            }
            MetricKind::Gauge => {
                assert_eq!(*kind, RecordedKind::Gauge, "{name}");
                assert_eq!(
                    *value,
                    DebugValue::Gauge((metric.value as f64).into()),
                    "{name}"
                );
            }
        }
        assert_eq!(help.as_deref(), Some(metric.help), "{name}");
    }
    assert_eq!(
        recorded["arcroute_in_flight_unreserved"].1,
        DebugValue::Gauge(2.0.into()),
        "the spilled call and the unreserved one"
    );
    assert_eq!(
        recorded["arcroute_in_flight_reserved"].1,
        DebugValue::Gauge(1.0.into())
    );

    drop((reserved, spilled, other));
    let recorded = record(&router.stats());
    assert_eq!(
        recorded["arcroute_in_flight_unreserved"].1,
        DebugValue::Gauge(0.0.into())
    );
    assert_eq!(
        recorded["arcroute_in_flight_reserved"].1,
        DebugValue::Gauge(0.0.into())
    );
    assert_eq!(
        recorded["arcroute_routes_reserved"].1,
        DebugValue::Counter(1)
    );
}
