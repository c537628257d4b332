//! Routing from async tasks on tokio's multi-thread runtime: a route held across `.await` is
//! released when its task is aborted or its future times out, and a `LocalRouter` per worker
//! thread, kept in a `thread_local!` over a `'static` router, serves tasks whose routes cross
//! `.await` (and so may resume on another worker).

mod support;

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arcroute::{LocalRouter, MonotonicClock, Route, RouteKind, Router, TaskId};
use support::router;
use tokio::runtime::{Builder, Runtime};

const WORKERS: usize = 4;

fn runtime() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_time()
        .build()
        .expect("a runtime")
}

/// Waits, a bounded number of times, until `done` holds.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..2_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn aborting_a_task_that_holds_routes_across_await_releases_them() {
    let router = Arc::new(router(8));
    let reserved = TaskId::new(1);
    router.set_reservation(reserved, 4);
    router.set_ready(reserved, 4).expect("a reservation");
    runtime().block_on(async {
        let tasks: Vec<_> = (0..16u64)
            .map(|i| {
                let router = Arc::clone(&router);
                tokio::spawn(async move {
                    let task = if i < 6 {
                        reserved
                    } else {
                        TaskId::new(u128::from(100 + i))
                    };
                    let route = router.route(task).expect("a healthy manager");
                    // The call is in progress on its manager; it never completes.
                    std::future::pending::<()>().await;
                    drop(route);
                })
            })
            .collect();
        until("every call in flight", || {
            let s = router.stats();
            s.in_flight_reserved + s.in_flight_unreserved == 16
        })
        .await;
        let s = router.stats();
        assert_eq!((s.in_flight_reserved, s.in_flight_unreserved), (4, 12));
        assert_eq!((s.routes_reserved, s.routes_spillover), (4, 2));

        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let ended = task.await.expect_err("aborted, not completed");
            assert!(ended.is_cancelled());
        }
        let s = router.stats();
        assert_eq!((s.in_flight_reserved, s.in_flight_unreserved), (0, 0));

        // The reservation admits again: no permit was leaked.
        let again: Vec<Route> = (0..4).map(|_| router.route(reserved).unwrap()).collect();
        assert!(again.iter().all(|r| r.kind() == RouteKind::Reserved));
    });
}

#[test]
fn a_timed_out_call_releases_its_route() {
    let router = Arc::new(router(4));
    runtime().block_on(async {
        let call = {
            let router = Arc::clone(&router);
            async move {
                let route = router.route(TaskId::new(5)).expect("a healthy manager");
                assert_eq!(router.stats().in_flight_unreserved, 1);
                tokio::time::sleep(Duration::from_secs(3_600)).await; // a manager that hangs
                drop(route);
            }
        };
        let timed_out = tokio::time::timeout(Duration::from_millis(20), call).await;
        assert!(
            timed_out.is_err(),
            "the call's future was dropped at the deadline"
        );
        assert_eq!(router.stats().in_flight_unreserved, 0);
        assert_eq!(router.stats().routes_unreserved, 1, "the call was routed");
    });
}

static ROUTER: OnceLock<Router> = OnceLock::new();
static HANDLES: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static LOCAL: RefCell<Option<LocalRouter<'static, MonotonicClock>>> =
        const { RefCell::new(None) };
}

/// Routes on this thread's handle, made on the thread's first call.
fn route_here(task: TaskId) -> Option<Route> {
    let router = ROUTER.get().expect("built before the runtime");
    LOCAL.with(|local| {
        local
            .borrow_mut()
            .get_or_insert_with(|| {
                HANDLES.fetch_add(1, Ordering::Relaxed);
                router.local()
            })
            .route(task)
    })
}

#[test]
fn a_local_router_per_worker_thread_serves_a_multi_thread_runtime() {
    let router = ROUTER.get_or_init(|| router(16));
    let calls = 400u64;
    let threads = Arc::new(Mutex::new(HashSet::new()));
    runtime().block_on(async {
        let tasks: Vec<_> = (0..calls)
            .map(|i| {
                let threads = Arc::clone(&threads);
                tokio::spawn(async move {
                    let task = TaskId::new(u128::from(i % 8));
                    let route = route_here(task).expect("a healthy manager");
                    threads.lock().unwrap().insert(std::thread::current().id());
                    assert_eq!((route.task(), route.kind()), (task, RouteKind::Unreserved));
                    // Held across awaits: the task may resume on another worker.
                    for _ in 0..3 {
                        tokio::task::yield_now().await;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    drop(route);
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("every call completes");
        }
    });
    let s = router.stats();
    assert_eq!(s.routes_unreserved, calls);
    assert_eq!(s.in_flight_unreserved, 0, "every route released");
    let handles = HANDLES.load(Ordering::Relaxed);
    let workers = threads.lock().unwrap().len();
    assert!(
        (1..=WORKERS).contains(&workers),
        "{workers} worker threads routed"
    );
    assert_eq!(handles, workers, "one handle per worker thread that routed");
}
