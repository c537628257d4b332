//! The `tracing` feature: an event for every published snapshot, saying what changed, and one
//! for every change of an unreserved arc's length; none for a route that keeps the length,
//! none for a write that publishes nothing.

mod support;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arcroute::{Route, TaskId};
use support::{m, manual_router};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One event: its target, message and other fields, as text.
#[derive(Debug, Default)]
struct Seen {
    target: String,
    message: String,
    fields: Vec<(String, String)>,
}

impl Seen {
    fn field(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("field {name} in {self:?}"))
    }
}

impl Visit for Seen {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let value = format!("{value:?}");
        if field.name() == "message" {
            self.message = value;
        } else {
            self.fields.push((field.name().to_owned(), value));
        }
    }
}

/// A subscriber that keeps every event.
#[derive(Clone, Default)]
struct Keep(Arc<Mutex<Vec<Seen>>>);

impl Keep {
    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Subscriber for Keep {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut seen = Seen {
            target: event.metadata().target().to_owned(),
            ..Seen::default()
        };
        event.record(&mut seen);
        self.0.lock().unwrap().push(seen);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// An arc event's `(from, to)`.
fn lengths(event: &Seen) -> (usize, usize) {
    let length = |name| event.field(name).parse().expect("a length");
    (length("from"), length("to"))
}

#[test]
fn writers_trace_each_publish_with_what_changed() {
    let keep = Keep::default();
    let (router, _clock) = manual_router(4);
    let task = TaskId::new(9);
    let built = router.stats().generation;
    tracing::subscriber::with_default(keep.clone(), || {
        assert!(router.set_health(m(0), false).unwrap());
        assert!(
            !router.set_health(m(0), false).unwrap(),
            "nothing to publish"
        );
        assert!(router.set_reservation(task, 2));
        assert!(router.set_managers((0..5).map(|i| (m(i), 1))).unwrap());
    });
    let events = keep.take();
    let shown: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.field("generation").parse::<u64>().unwrap() - built,
                e.field("ring"),
                e.field("health"),
                e.field("reservations"),
                e.field("config"),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (1, "false", "true", "false", "false"),
            (2, "false", "false", "true", "false"),
            (3, "true", "true", "false", "false"),
        ],
        "{events:?}"
    );
    assert!(events
        .iter()
        .all(|e| e.target == "arcroute" && e.message == "published a snapshot"));
    let last = &events[2];
    assert_eq!(
        (
            last.field("managers"),
            last.field("healthy"),
            last.field("reserved_tasks")
        ),
        ("5", "4", "1"),
        "manager 0 stays down; manager 4 joins healthy"
    );
    assert_eq!(router.stats().generation, built + 3);
}

#[test]
fn arcs_trace_growth_and_shrink_but_not_routes_that_keep_the_length() {
    let keep = Keep::default();
    let (router, clock) = manual_router(50);
    let task = TaskId::from_name("burst");
    tracing::subscriber::with_default(keep.clone(), || {
        // The first route keeps the starting length: no event.
        drop(router.route(task).expect("a healthy manager"));
        assert_eq!(
            keep.take().len(),
            0,
            "a route that keeps the length is silent"
        );
        let start = router.unreserved_arc(task.into()).len();

        let held: Vec<Route> = (0..40).map(|_| router.route(task).unwrap()).collect();
        let grown = router.unreserved_arc(task.into()).len();
        assert!(grown > start, "40 calls in flight grow the arc");
        let events = keep.take();
        assert_eq!(events.len() as u64, router.stats().arc_grows, "{events:?}");
        assert!(events.iter().all(|e| e.message == "unreserved arc grew"));
        let steps: Vec<_> = events.iter().map(lengths).collect();
        assert_eq!(steps.first().map(|s| s.0), Some(start));
        assert_eq!(steps.last().map(|s| s.1), Some(grown));
        assert!(steps.iter().all(|s| s.1 > s.0), "{steps:?}");
        assert!(steps.windows(2).all(|w| w[0].1 == w[1].0), "{steps:?}");

        drop(held);
        drop(router.route(task).expect("a healthy manager"));
        clock.advance(Duration::from_secs(61));
        drop(router.route(task).expect("a healthy manager"));
        let shrunk = router.unreserved_arc(task.into()).len();
        assert!(shrunk < grown, "the arc shrinks once load has stayed low");
        let events = keep.take();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].message, "unreserved arc shrank");
        assert_eq!(lengths(&events[0]), (grown, shrunk));
    });
    assert_eq!(router.stats().arc_shrinks, 1);
}
