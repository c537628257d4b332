//! The `tower` feature: `RouterService` against mock manager services.
//!
//! - routing: each call reaches the service of the manager its route names, on the arc its
//!   kind names (unreserved and reserved);
//! - permits: a call counts in flight from its route until its `Routed` response is dropped,
//!   and not after;
//! - throttles: a throttle answer becomes `on_throttle` and a retry on another manager;
//!   retries stop at the router's bound, and without a replay none is made;
//! - cancellation: dropping a call's future while it waits for readiness, for its answer, or
//!   between retries releases every in-flight count;
//! - errors: no task, no healthy manager, a manager without a service and an inner failure
//!   are typed errors that leave nothing in flight;
//! - conventions: the service is `Clone` (clones share the map), `Send + Sync`, and always
//!   ready.
#![cfg(feature = "tower")]

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use arcroute::tower::{CloneRequest, Managers, NoReplay, RouteError, Routed, RouterLayer};
use arcroute::{GroupId, ManagerId, RouteKind, Router, TaskId};
use tower_layer::Layer;
use tower_service::Service;
use tower_test::mock;

fn fleet(n: u64) -> (Arc<Router>, Vec<ManagerId>) {
    let ids: Vec<ManagerId> = (0..n)
        .map(|i| ManagerId::from_name(&format!("manager-{i}")))
        .collect();
    let router = Router::builder()
        .managers(ids.iter().map(|&id| (id, 1)))
        .build()
        .expect("a valid fleet");
    (Arc::new(router), ids)
}

#[allow(clippy::ptr_arg)] // a key function takes the request type itself
fn task_of(request: &String) -> Option<TaskId> {
    (!request.is_empty()).then(|| TaskId::from_name(request))
}

fn in_flight(router: &Router) -> (u64, u64) {
    let stats = router.stats();
    (stats.in_flight_reserved, stats.in_flight_unreserved)
}

/// A manager's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Ran(ManagerId),
    Full(ManagerId),
}

fn is_full(answer: &Answer) -> bool {
    matches!(answer, Answer::Full(_))
}

/// A manager that answers at once: `Full` while it is in the shared `full` set, and logs
/// every call it receives.
#[derive(Clone)]
struct Fake {
    id: ManagerId,
    full: Arc<Mutex<HashSet<ManagerId>>>,
    log: Arc<Mutex<Vec<ManagerId>>>,
}

impl Service<String> for Fake {
    type Response = Answer;
    type Error = Infallible;
    type Future = Ready<Result<Answer, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: String) -> Self::Future {
        self.log.lock().unwrap().push(self.id);
        let full = self.full.lock().unwrap().contains(&self.id);
        ready(Ok(if full {
            Answer::Full(self.id)
        } else {
            Answer::Ran(self.id)
        }))
    }
}

struct Fakes {
    managers: Managers<Fake>,
    full: Arc<Mutex<HashSet<ManagerId>>>,
    log: Arc<Mutex<Vec<ManagerId>>>,
}

fn fakes(ids: &[ManagerId]) -> Fakes {
    let full = Arc::new(Mutex::new(HashSet::new()));
    let log = Arc::new(Mutex::new(Vec::new()));
    let managers = ids
        .iter()
        .map(|&id| {
            let fake = Fake {
                id,
                full: Arc::clone(&full),
                log: Arc::clone(&log),
            };
            (id, fake)
        })
        .collect();
    Fakes {
        managers,
        full,
        log,
    }
}

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn call_now<S: Service<String>>(service: &mut S, request: &str) -> S::Future {
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    assert!(
        matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))),
        "the router service is always ready"
    );
    service.call(request.to_owned())
}

#[tokio::test]
async fn each_call_reaches_the_manager_its_route_names() {
    let (router, ids) = fleet(5);
    let fakes = fakes(&ids);
    let layer = RouterLayer::new(Arc::clone(&router), task_of, is_full, CloneRequest);
    let mut service = layer.layer(fakes.managers.clone());

    let reserved = TaskId::from_name("reserved");
    router.set_reservation(reserved, 2);
    router.set_ready(reserved, 2).unwrap();
    let reserved_arc: Vec<ManagerId> = router
        .reserved_arc(reserved)
        .iter()
        .map(|slot| slot.manager)
        .collect();

    let mut held = Vec::new();
    for name in ["reserved", "reserved", "reserved", "plain", "plain"] {
        let routed = call_now(&mut service, name).await.expect("routed");
        let manager = routed.route().manager();
        assert_eq!(*routed.response(), Answer::Ran(manager));
        assert_eq!(fakes.log.lock().unwrap().last(), Some(&manager));
        assert_eq!(routed.route().task(), TaskId::from_name(name));
        assert_eq!(routed.route().retries(), 0);
        assert!(!routed.is_throttled());
        match routed.route().kind() {
            RouteKind::Reserved => assert!(reserved_arc.contains(&manager)),
            _ => {
                let group = GroupId::from(TaskId::from_name(name));
                assert!(router.unreserved_arc(group).contains(&manager));
            }
        }
        held.push(routed);
    }
    let kinds: Vec<RouteKind> = held.iter().map(|r| r.route().kind()).collect();
    assert_eq!(
        kinds,
        [
            RouteKind::Reserved,
            RouteKind::Reserved,
            RouteKind::Spillover,
            RouteKind::Unreserved,
            RouteKind::Unreserved
        ]
    );
    assert_eq!(fakes.log.lock().unwrap().len(), 5, "one send per call");
    assert_eq!(in_flight(&router), (2, 3));
    drop(held);
    assert_eq!(in_flight(&router), (0, 0));
}

#[tokio::test]
async fn the_permit_is_held_until_the_routed_response_drops() {
    let (router, ids) = fleet(1);
    let (mock, mut handle) = mock::pair::<String, &'static str>();
    let managers = Managers::from_iter([(ids[0], mock)]);
    let layer = RouterLayer::new(Arc::clone(&router), task_of, |_: &&str| false, NoReplay);
    let mut service = layer.layer(managers);

    let call = tokio::spawn(call_now(&mut service, "f"));
    assert_eq!(
        in_flight(&router),
        (0, 0),
        "nothing is routed before the future runs"
    );
    let (request, reply) = handle.next_request().await.expect("a request");
    assert_eq!(request, "f");
    assert_eq!(
        in_flight(&router),
        (0, 1),
        "counted while the manager runs it"
    );
    reply.send_response("done");
    let routed: Routed<&str> = call.await.unwrap().expect("routed");
    assert_eq!(*routed.response(), "done");
    assert_eq!(
        in_flight(&router),
        (0, 1),
        "counted while the response is held"
    );
    let (response, route) = routed.into_parts();
    assert_eq!(response, "done");
    assert_eq!(
        in_flight(&router),
        (0, 1),
        "counted while the route is held"
    );
    drop(route);
    assert_eq!(in_flight(&router), (0, 0));

    // `into_response` ends the count at once.
    let call = tokio::spawn(call_now(&mut service, "f"));
    let (_, reply) = handle.next_request().await.expect("a request");
    reply.send_response("again");
    let response = call.await.unwrap().expect("routed").into_response();
    assert_eq!(response, "again");
    assert_eq!(in_flight(&router), (0, 0));
}

#[tokio::test]
async fn a_throttle_answer_is_retried_on_another_manager() {
    let (router, ids) = fleet(4);
    let fakes = fakes(&ids);
    let layer = RouterLayer::new(Arc::clone(&router), task_of, is_full, CloneRequest);
    let mut service = layer.layer(fakes.managers.clone());

    // Every manager is full but one outside the arc "f" starts on.
    let group = GroupId::from(TaskId::from_name("f"));
    let arc = router.unreserved_arc(group);
    let free = *ids
        .iter()
        .find(|id| !arc.contains(id))
        .expect("a manager off the arc");
    fakes
        .full
        .lock()
        .unwrap()
        .extend(ids.iter().filter(|&&id| id != free));
    let before = router.stats();

    let routed = call_now(&mut service, "f").await.expect("routed");
    let log = fakes.log.lock().unwrap().clone();
    let landed = routed.route().manager();
    assert!(!routed.is_throttled());
    assert_eq!(landed, free);
    assert_eq!(*routed.response(), Answer::Ran(free));
    assert!(arc.contains(&log[0]), "the first try is on the arc");
    assert_eq!(log.last(), Some(&free));
    let throttled = u64::from(routed.route().retries());
    assert!(throttled >= 1, "the first manager throttled it");
    assert_eq!(log.len() as u64, throttled + 1, "one send per try");
    assert_eq!(
        log.iter().collect::<HashSet<_>>().len(),
        log.len(),
        "no manager twice"
    );
    let after = router.stats();
    assert_eq!(after.throttles - before.throttles, throttled);
    assert_eq!(after.throttles_exhausted, before.throttles_exhausted);
    // The tries followed the ring past the arc, which did not widen: the throttles said
    // those managers were full, not that the group needs more of them.
    let ring = router.ring();
    let walked: Vec<_> = ring
        .arc(ring.unreserved_start(group), log.len() as u32)
        .collect();
    assert_eq!(log, walked, "one manager after another along the ring");
    assert_eq!(router.unreserved_arc(group), arc, "the arc stays");
    assert!(!arc.contains(&landed));
    assert_eq!(after.arc_grows, before.arc_grows);
    assert_eq!(
        in_flight(&router),
        (0, 1),
        "one count, moved along with the call"
    );
    drop(routed);
    assert_eq!(in_flight(&router), (0, 0));
}

#[tokio::test]
async fn a_full_reserved_manager_moves_the_call_along_its_reserved_arc_then_to_spillover() {
    let (router, ids) = fleet(6);
    let fakes = fakes(&ids);
    let layer = RouterLayer::new(Arc::clone(&router), task_of, is_full, CloneRequest);
    let mut service = layer.layer(fakes.managers.clone());
    let task = TaskId::from_name("reserved");
    router.set_reservation(task, 4);
    router.set_ready(task, 4).unwrap();
    let reserved_arc: Vec<ManagerId> = router
        .reserved_arc(task)
        .iter()
        .map(|slot| slot.manager)
        .collect();
    fakes
        .full
        .lock()
        .unwrap()
        .extend(reserved_arc.iter().copied());

    let routed = call_now(&mut service, "reserved").await.expect("routed");
    let log = fakes.log.lock().unwrap().clone();
    assert!(!routed.is_throttled());
    assert_eq!(routed.route().kind(), RouteKind::Spillover);
    assert!(!reserved_arc.contains(&routed.route().manager()));
    let on_reserved = log.iter().filter(|m| reserved_arc.contains(m)).count();
    assert_eq!(
        on_reserved,
        reserved_arc.len(),
        "every reserved manager tried once"
    );
    assert_eq!(
        in_flight(&router),
        (0, 1),
        "the reserved count moved to spillover"
    );
    drop(routed);
    assert_eq!(in_flight(&router), (0, 0));
}

#[tokio::test]
async fn retries_stop_at_the_routers_bound() {
    let (router, ids) = fleet(3);
    let fakes = fakes(&ids);
    fakes.full.lock().unwrap().extend(ids.iter().copied());
    let layer = RouterLayer::new(Arc::clone(&router), task_of, is_full, CloneRequest);
    let mut service = layer.layer(fakes.managers.clone());

    let routed = call_now(&mut service, "f").await.expect("routed");
    assert!(
        routed.is_throttled(),
        "the last throttle answer is the response"
    );
    assert!(is_full(routed.response()));
    let log = fakes.log.lock().unwrap().clone();
    assert_eq!(log.len(), 3, "one try per healthy manager, no more");
    assert_eq!(log.iter().collect::<HashSet<_>>().len(), 3);
    assert_eq!(routed.route().retries(), 2);
    let stats = router.stats();
    assert_eq!(stats.throttles, 3);
    assert_eq!(stats.throttles_exhausted, 1);
    drop(routed);
    assert_eq!(in_flight(&router), (0, 0));

    // With a manager down the bound shrinks with the healthy fleet.
    fakes.log.lock().unwrap().clear();
    router.set_health(ids[0], false).unwrap();
    let routed = call_now(&mut service, "g").await.expect("routed");
    assert!(routed.is_throttled());
    let log = fakes.log.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    assert!(
        !log.contains(&ids[0]),
        "never sent to a manager marked down"
    );
}

#[tokio::test]
async fn without_a_replay_a_throttle_answer_is_returned_untold() {
    let (router, ids) = fleet(3);
    let fakes = fakes(&ids);
    fakes.full.lock().unwrap().extend(ids.iter().copied());
    let layer = RouterLayer::new(Arc::clone(&router), task_of, is_full, NoReplay);
    let mut service = layer.layer(fakes.managers.clone());
    let routed = call_now(&mut service, "f").await.expect("routed");
    assert!(routed.is_throttled());
    assert_eq!(fakes.log.lock().unwrap().len(), 1);
    assert_eq!(router.stats().throttles, 0);

    // A replay closure that declines (a body that cannot be sent twice) behaves the same.
    let declines = |_: &String| None;
    let layer = RouterLayer::new(Arc::clone(&router), task_of, is_full, declines);
    let mut service = layer.layer(fakes.managers.clone());
    let routed = call_now(&mut service, "f").await.expect("routed");
    assert!(routed.is_throttled());
    assert_eq!(fakes.log.lock().unwrap().len(), 2);
    assert_eq!(router.stats().throttles, 0);
}

#[tokio::test]
async fn dropping_the_future_releases_every_count() {
    let (router, ids) = fleet(1);
    let (mock, mut handle) = mock::pair::<String, &'static str>();
    let managers = Managers::from_iter([(ids[0], mock)]);
    let layer = RouterLayer::new(Arc::clone(&router), task_of, |_: &&str| false, NoReplay);
    let mut service = layer.layer(managers);

    // Mid-call: the manager has the request and has not answered.
    let call = tokio::spawn(call_now(&mut service, "f"));
    let (_, reply) = handle.next_request().await.expect("a request");
    assert_eq!(in_flight(&router), (0, 1));
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    assert_eq!(in_flight(&router), (0, 0));
    drop(reply);

    // Waiting for the manager's service to be ready (it has no capacity).
    handle.allow(0);
    let call = tokio::spawn(call_now(&mut service, "f"));
    wait_for(|| in_flight(&router) == (0, 1)).await;
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    assert_eq!(in_flight(&router), (0, 0));

    // A reserved call, dropped in the same place.
    let task = TaskId::from_name("f");
    router.set_reservation(task, 1);
    router.set_ready(task, 1).unwrap();
    let call = tokio::spawn(call_now(&mut service, "f"));
    wait_for(|| in_flight(&router) == (1, 0)).await;
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    assert_eq!(in_flight(&router), (0, 0));
}

#[tokio::test]
async fn dropping_the_future_between_retries_releases_the_moved_count() {
    let (router, ids) = fleet(3);
    let mut handles = Vec::new();
    let managers = Managers::new();
    for &id in &ids {
        let (mock, handle) = mock::pair::<String, &'static str>();
        managers.insert(id, mock);
        handles.push(handle);
    }
    let is_busy = |answer: &&str| *answer == "busy";
    let layer = RouterLayer::new(Arc::clone(&router), task_of, is_busy, CloneRequest);
    let mut service = layer.layer(managers);

    let call = tokio::spawn(call_now(&mut service, "f"));
    // Answer "busy" to the first request, then hold the retry unanswered.
    let mut answered = 0;
    let mut pending = Vec::new();
    while pending.is_empty() {
        for handle in &mut handles {
            if let Poll::Ready(Some((_, reply))) = handle.poll_request() {
                if answered == 0 {
                    reply.send_response("busy");
                    answered += 1;
                } else {
                    pending.push(reply);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(router.stats().throttles, 1);
    assert_eq!(in_flight(&router), (0, 1));
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    assert_eq!(in_flight(&router), (0, 0));
}

/// Polls `done` until it holds, for at most two seconds.
async fn wait_for(done: impl Fn() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("condition not reached within two seconds");
}

#[tokio::test]
async fn no_healthy_manager_is_a_typed_error() {
    let (router, ids) = fleet(2);
    let fakes = fakes(&ids);
    let layer = RouterLayer::new(Arc::clone(&router), task_of, is_full, CloneRequest);
    let mut service = layer.layer(fakes.managers.clone());
    for &id in &ids {
        router.set_health(id, false).unwrap();
    }
    let err = call_now(&mut service, "f").await.unwrap_err();
    assert!(
        matches!(err, RouteError::NoManager { task } if task == TaskId::from_name("f")),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("no healthy manager for task {:?}", TaskId::from_name("f"))
    );
    assert!(fakes.log.lock().unwrap().is_empty());
    assert_eq!(router.stats().no_manager, 1);
    assert_eq!(in_flight(&router), (0, 0));
}

#[tokio::test]
async fn a_request_without_a_task_is_a_typed_error() {
    let (router, ids) = fleet(2);
    let fakes = fakes(&ids);
    let layer = RouterLayer::new(Arc::clone(&router), task_of, is_full, CloneRequest);
    let mut service = layer.layer(fakes.managers.clone());
    let err = call_now(&mut service, "").await.unwrap_err();
    assert!(matches!(err, RouteError::NoTask), "{err:?}");
    assert!(fakes.log.lock().unwrap().is_empty());
    let stats = router.stats();
    assert_eq!(
        stats.routes_unreserved + stats.no_manager,
        0,
        "nothing routed"
    );
}

#[tokio::test]
async fn a_manager_without_a_service_is_a_typed_error() {
    let (router, ids) = fleet(1);
    let fakes = fakes(&ids);
    let layer = RouterLayer::new(Arc::clone(&router), task_of, is_full, CloneRequest);
    let mut service = layer.layer(fakes.managers.clone());
    let removed = fakes.managers.remove(ids[0]).expect("a service to remove");
    assert!(fakes.managers.is_empty());
    let err = call_now(&mut service, "f").await.unwrap_err();
    assert!(
        matches!(err, RouteError::UnknownManager { manager, .. } if manager == ids[0]),
        "{err:?}"
    );
    assert_eq!(in_flight(&router), (0, 0));

    // The map is shared: a service added through any clone serves the next call.
    let clone = service.clone();
    assert!(clone.managers().insert(ids[0], removed).is_none());
    assert_eq!(service.managers().ids(), ids);
    let routed = call_now(&mut service, "f").await.expect("routed");
    assert_eq!(*routed.response(), Answer::Ran(ids[0]));
}

/// A manager whose service fails.
#[derive(Clone)]
struct Broken;

impl Service<String> for Broken {
    type Response = ();
    type Error = std::io::Error;
    type Future = Ready<Result<(), std::io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: String) -> Self::Future {
        ready(Err(std::io::Error::other("connection refused")))
    }
}

#[tokio::test]
async fn an_inner_failure_is_a_typed_error_with_its_source() {
    let (router, ids) = fleet(3);
    let managers = Managers::from_iter(ids.iter().map(|&id| (id, Broken)));
    let layer = RouterLayer::new(Arc::clone(&router), task_of, |_: &()| true, CloneRequest);
    let mut service = layer.layer(managers);
    let err = call_now(&mut service, "f").await.unwrap_err();
    let RouteError::Inner {
        manager,
        ref source,
    } = err
    else {
        panic!("{err:?}");
    };
    assert!(ids.contains(&manager));
    assert_eq!(source.to_string(), "connection refused");
    let source = std::error::Error::source(&err).expect("the inner error");
    assert_eq!(source.to_string(), "connection refused");
    assert_eq!(router.stats().throttles, 0, "an error is not a throttle");
    assert_eq!(in_flight(&router), (0, 0));
}

#[test]
fn the_service_and_layer_are_clone_send_and_sync() {
    fn assert_clone_send_sync<T: Clone + Send + Sync>() {}
    type Svc = arcroute::tower::RouterService<
        Fake,
        fn(&String) -> Option<TaskId>,
        fn(&Answer) -> bool,
        CloneRequest,
    >;
    assert_clone_send_sync::<Svc>();
    assert_clone_send_sync::<
        RouterLayer<fn(&String) -> Option<TaskId>, fn(&Answer) -> bool, CloneRequest>,
    >();
    assert_clone_send_sync::<Managers<Fake>>();
    fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
    assert_error::<RouteError<std::io::Error>>();
}
