//! # Async hosts: routes across `.await`, cancellation, a handle per worker
//!
//! The router does no IO and never blocks a caller on another: a route is a few atomic
//! operations and returns at once, so an async frontend calls it directly from its tasks, with
//! no `spawn_blocking`.
//!
//! # A route may be held across `.await`
//!
//! A [`Route`](crate::Route) is `Send` and holds no snapshot guard and no lock: only the
//! [`Permit`](crate::Permit) counting its call. Keep it alive, across every `.await` of the
//! call, until the response is complete; dropping it ends the call as far as the router
//! counts (`Route` is `#[must_use]` for that reason).
//!
//! # Cancellation releases the permit
//!
//! A task aborted, a future dropped by a timeout or a `select!`, a client that went away: the
//! future's locals are dropped, the `Route` with them, and its permit released, on whatever
//! thread drops it. A panic unwinding through the task does the same. Nothing needs a
//! cancellation hook; [`Stats`](crate::Stats)' in-flight gauges return to zero once every
//! call has ended. The `tower` feature's call future holds the route the same way, and hands
//! it out with the response (its module docs: "When a call is complete").
//!
//! # Sharing the router
//!
//! [`Router`](crate::Router) is `Send + Sync`: put it in an `Arc` and clone that into each
//! task, or make it `'static` once at startup (a `std::sync::OnceLock`, or `Box::leak` for a
//! router that lives as long as the process).
//!
//! # `LocalRouter`: one per worker thread, never across `.await`
//!
//! A [`LocalRouter`](crate::LocalRouter) borrows its router (`LocalRouter<'r, C>`) and routes
//! through `&mut self`, so one handle cannot be shared between tasks, and a task holding it
//! across an `.await` on tokio's multi-thread runtime would take it to whatever worker thread
//! resumes the task. The pattern that fits: a `'static` router, and one handle per worker
//! thread in a `thread_local!`, borrowed only for the synchronous `route` call; the route it
//! returns is owned and may then cross `.await` like any other. Plain
//! [`Router::route`](crate::Router::route) needs none of this and is the place to start; the
//! handle only saves a little per call (`BENCHMARKS.md`).
//!
//! ```
//! use std::cell::RefCell;
//! use std::sync::OnceLock;
//!
//! use arcroute::{LocalRouter, ManagerId, MonotonicClock, Route, Router, TaskId};
//!
//! static ROUTER: OnceLock<Router> = OnceLock::new();
//!
//! thread_local! {
//!     static LOCAL: RefCell<Option<LocalRouter<'static, MonotonicClock>>> =
//!         const { RefCell::new(None) };
//! }
//!
//! /// Routes on this worker thread's handle, made on its first call.
//! fn route(task: TaskId) -> Option<Route> {
//!     let router = ROUTER.get().expect("the router is built at startup");
//!     LOCAL.with(|local| local.borrow_mut().get_or_insert_with(|| router.local()).route(task))
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let router = Router::builder()
//!     .managers((0..4).map(|i| (ManagerId::new(i), 1)))
//!     .build()?;
//! ROUTER.set(router).map_err(|_| "built once")?;
//!
//! let runtime = tokio::runtime::Builder::new_multi_thread()
//!     .worker_threads(2)
//!     .enable_time()
//!     .build()?;
//! runtime.block_on(async {
//!     let call = tokio::spawn(async {
//!         let route = route(TaskId::new(1)).expect("a healthy manager");
//!         // ... send the call to `route.manager()` and await its response ...
//!         tokio::task::yield_now().await;
//!         drop(route); // the response is complete
//!     });
//!     call.await.expect("the call's task");
//! });
//! assert_eq!(ROUTER.get().unwrap().stats().in_flight_unreserved, 0);
//! # Ok(())
//! # }
//! ```
