//! The batch reservation writer: one publish for many changes, the same result as the single
//! writers applied one by one, and a refused batch changes nothing.
//!
//! The load figures in `RELIABILITY.md` come from the ignored test, in release:
//!
//! ```text
//! cargo test --release --test batch -- --ignored --nocapture
//! ```

mod support;

use std::time::Instant;

use arcroute::{Error, Reservation, ReservationChange, Router, TaskId};
use proptest::prelude::*;

fn change() -> impl Strategy<Value = ReservationChange> {
    let task = (0u128..12).prop_map(TaskId::new);
    prop_oneof![
        (task.clone(), 0u32..4).prop_map(|(task, limit)| ReservationChange::Limit { task, limit }),
        (task.clone(), 0u32..4).prop_map(|(task, ready)| ReservationChange::Ready { task, ready }),
        (task.clone(), 0u32..4, 0u32..4).prop_map(|(task, l, r)| ReservationChange::Put {
            task,
            reservation: Reservation::new(l, r),
        }),
        task.prop_map(|task| ReservationChange::Remove { task }),
    ]
}

/// Applies `change` through the single writer it names.
fn single(router: &Router, change: ReservationChange) -> Result<bool, Error> {
    Ok(match change {
        ReservationChange::Limit { task, limit } => router.set_reservation(task, limit),
        ReservationChange::Ready { task, ready } => router.set_ready(task, ready)?,
        ReservationChange::Put { task, reservation } => router.put_reservation(task, reservation),
        ReservationChange::Remove { task } => router.remove_reservation(task),
        other => unreachable!("a change this test does not make: {other:?}"),
    })
}

fn table(router: &Router) -> Vec<Option<Reservation>> {
    (0u128..12)
        .map(|t| router.reservation(TaskId::new(t)))
        .collect()
}

proptest! {
    #![proptest_config(support::proptest_config(256))]

    /// A batch is the single writers in order: the same reservations, and an error exactly
    /// when one of them would fail, in which case nothing of the batch stays.
    #[test]
    fn a_batch_is_its_single_writers_in_one_publish(
        before in prop::collection::vec(change(), 0..8),
        batch in prop::collection::vec(change(), 0..24),
    ) {
        let (one_by_one, batched) = (support::router(4), support::router(4));
        for &c in &before {
            let _ = single(&one_by_one, c);
            let _ = batched.update_reservations([c]);
        }
        prop_assert_eq!(table(&one_by_one), table(&batched));
        let start = table(&batched);
        let generation = batched.generation();

        let mut failed = None;
        let mut changed = false;
        for &c in &batch {
            match single(&one_by_one, c) {
                Ok(published) => changed |= published,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        match (batched.update_reservations(batch.iter().copied()), failed) {
            (Err(got), Some(expected)) => {
                prop_assert_eq!(got, expected);
                prop_assert_eq!(table(&batched), start, "a refused batch changes nothing");
                prop_assert_eq!(batched.generation(), generation);
            }
            (Ok(published), None) => {
                prop_assert_eq!(table(&batched), table(&one_by_one));
                prop_assert_eq!(published, changed, "publishes when a single writer would");
                prop_assert_eq!(batched.generation(), generation + u64::from(published));
                prop_assert_eq!(batched.stats().reserved_tasks,
                    table(&batched).iter().flatten().count() as u64);
            }
            (got, expected) => prop_assert!(false, "batch {:?}, single writers {:?}", got, expected),
        }
    }
}

#[test]
fn an_empty_batch_publishes_nothing() {
    let router = support::router(4);
    let generation = router.generation();
    assert_eq!(router.update_reservations([]), Ok(false));
    let task = TaskId::new(1);
    assert_eq!(
        router.update_reservations([ReservationChange::Remove { task }]),
        Ok(false),
        "draining what is not there"
    );
    assert_eq!(router.generation(), generation);
}

#[test]
fn a_ready_count_may_follow_its_limit_in_the_same_batch() {
    let router = support::router(4);
    let task = TaskId::from_name("f");
    let batch = [
        ReservationChange::Limit { task, limit: 3 },
        ReservationChange::Ready { task, ready: 3 },
    ];
    assert_eq!(router.update_reservations(batch), Ok(true));
    assert_eq!(router.reservation(task), Some(Reservation::new(3, 3)));
    let routes: Vec<_> = (0..3).map(|_| router.route(task).unwrap()).collect();
    assert!(routes.iter().all(|r| r.permit().is_reserved()));
}

/// A bulk load through the batch writer publishes once, however many changes it carries.
#[test]
fn a_bulk_load_is_one_publish() {
    let router = support::router(4);
    let generation = router.generation();
    let load = (0..50_000u128).map(|i| ReservationChange::Put {
        task: TaskId::new(i),
        reservation: Reservation::new(2, 1),
    });
    assert_eq!(router.update_reservations(load), Ok(true));
    assert_eq!(router.generation(), generation + 1);
    assert_eq!(router.stats().reserved_tasks, 50_000);
}

#[test]
#[ignore = "a timed bulk load: run in release, see the file's docs"]
fn bulk_load_figures() {
    const N: u128 = 400_000;
    // One at a time is quadratic: a quarter as many is a sixteenth of the time.
    const SINGLE: u128 = 100_000;
    let router = support::router(100);
    let started = Instant::now();
    let load = (0..N).map(|i| ReservationChange::Put {
        task: TaskId::new(i),
        reservation: Reservation::new(4, 4),
    });
    assert_eq!(router.update_reservations(load), Ok(true));
    let batch = started.elapsed();
    let router = support::router(100);
    let started = Instant::now();
    for i in 0..SINGLE {
        router.put_reservation(TaskId::new(i), Reservation::new(4, 4));
    }
    let single = started.elapsed();
    println!(
        "{N} reservations in one batch: {:.3} s; {SINGLE} by one put_reservation each: {:.1} s",
        batch.as_secs_f64(),
        single.as_secs_f64()
    );
}
