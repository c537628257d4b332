//! A tower [`Layer`] and [`Service`] that route each request through a [`Router`].
//!
//! [`RouterLayer`] wraps a [`Managers`] map (one inner service per manager: a hyper client for
//! its address, say) into a [`RouterService`]; in a tower `ServiceBuilder` stack the map is
//! what `.service(…)` is given, below layers such as a timeout. Each call:
//!
//! 1. takes its task from the request with the host's key function, and routes it
//!    ([`Router::route`]): no healthy manager is [`RouteError::NoManager`];
//! 2. takes the chosen manager's service from the map (a clone of it:
//!    [`RouteError::UnknownManager`] if the map has none), waits until that service is ready
//!    (its `poll_ready`), and sends the request;
//! 3. when the host's throttle test says the response is a throttle answer (HTTP 429, say),
//!    reports it with [`Router::on_throttle`] and sends a copy of the request to the next
//!    manager, within the router's bound (at most one try per healthy manager); when the bound
//!    is reached, or the request cannot be copied, the throttle answer itself is the response;
//! 4. resolves to a [`Routed`]: the response together with its [`Route`], whose permit keeps
//!    the call counted in flight until it is dropped.
//!
//! # When a call is complete
//!
//! The permit lives in the [`Route`] inside the [`Routed`] response, so the caller decides.
//! For a plain service whose response is whole when its future resolves, drop it at once:
//! [`Routed::into_response`] (with `ServiceExt::map_response`, the layered service answers
//! `S::Response` as its inner services do). For a streaming HTTP body the call still runs
//! while its body streams: take [`Routed::into_parts`] and keep the `Route` with the body
//! (move it into a body wrapper that drops it at the end of the stream, or drop it after the
//! body is read). Counting a streaming call as done when its headers arrive would let the
//! router admit reserved calls onto environments that are still busy.
//!
//! # Readiness
//!
//! The manager of a call is chosen per request, so readiness cannot be known before the
//! request is seen: [`RouterService::poll_ready`] is always ready, and backpressure comes from
//! the chosen manager's own service, whose `poll_ready` the call's future awaits before it
//! sends the request (a manager whose client is saturated makes that call wait, holding its
//! permit, not the others). Put a concurrency limit or a load shedder in front of the layer
//! to bound how many calls wait.
//!
//! # Retries
//!
//! A retry needs the request again. The host says how through [`Replay`]: [`CloneRequest`]
//! for a `Clone` request type, a closure `Fn(&Req) -> Option<Req>` for one that is not
//! (`http::Request` is not `Clone`: copy its method, URI, headers and buffered body), or
//! [`NoReplay`], which never retries. The copy is taken before each send (a request cannot be
//! recovered from a service that consumed it); when it is `None` the throttle answer is
//! returned as the response and the router is not told.
//!
//! # Cancellation
//!
//! Dropping the call's future (a timeout, a client that went away) drops the route with it,
//! at any point: waiting for readiness, in the inner call, between retries. Every in-flight
//! count the call held is released; nothing is left to clean up.
//!
//! # Inner services
//!
//! A manager's service is cloned out of the map for each try (clone it cheaply: a hyper
//! client, a `Buffer`, an `Arc` inside), and must be `Clone + Send + Sync`, with a `Send`
//! future, response and error; the call's future is boxed and `Send`. A `Sync` wrapper such
//! as tower's `BoxCloneSyncService` serves for one that is not.
//!
//! # Membership
//!
//! The [`Managers`] map is the host's: cheap to clone, shared by every clone of the service,
//! and updated beside the router. Add a manager's service before [`Router::set_managers`]
//! puts it on the ring, and remove it after the router drops it, so the router never picks a
//! manager the map lacks.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::Arc;
//!
//! use arcroute::tower::{CloneRequest, Managers, RouterLayer};
//! use arcroute::{ManagerId, Router, TaskId};
//! use tower_layer::Layer;
//! use tower_service::Service;
//!
//! # fn main() -> Result<(), arcroute::Error> {
//! let ids: Vec<ManagerId> = (0..3).map(|i| ManagerId::from_name(&format!("m{i}"))).collect();
//! let router = Arc::new(Router::builder().managers(ids.iter().map(|&id| (id, 1))).build()?);
//!
//! // One inner service per manager; here a function that answers which manager ran the call.
//! #[derive(Clone)]
//! struct Echo(ManagerId);
//! impl Service<String> for Echo {
//!     type Response = (ManagerId, String);
//!     type Error = Infallible;
//!     type Future = std::future::Ready<Result<Self::Response, Infallible>>;
//!     fn poll_ready(
//!         &mut self,
//!         _: &mut std::task::Context<'_>,
//!     ) -> std::task::Poll<Result<(), Infallible>> {
//!         std::task::Poll::Ready(Ok(()))
//!     }
//!     fn call(&mut self, request: String) -> Self::Future {
//!         std::future::ready(Ok((self.0, request)))
//!     }
//! }
//! let managers = Managers::from_iter(ids.iter().map(|&id| (id, Echo(id))));
//!
//! let layer = RouterLayer::new(
//!     Arc::clone(&router),
//!     |name: &String| Some(TaskId::from_name(name)), // the task of a request
//!     |_: &(ManagerId, String)| false,               // no throttle answers here
//!     CloneRequest,
//! );
//! let mut service = layer.layer(managers);
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let routed = runtime.block_on(service.call("thumbnails".to_owned())).unwrap();
//! let (ran_on, _) = routed.response();
//! assert_eq!(*ran_on, routed.route().manager());
//! assert_eq!(router.stats().in_flight_unreserved, 1); // until the call is complete
//! drop(routed);
//! assert_eq!(router.stats().in_flight_unreserved, 0);
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use tower_layer::Layer;
use tower_service::Service;

use crate::{Clock, ManagerId, MonotonicClock, Route, Router, TaskId};

/// The future of a [`RouterService`] call: boxed, `Send`.
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub type RouterFuture<Resp, E> =
    Pin<Box<dyn Future<Output = Result<Routed<Resp>, RouteError<E>>> + Send + 'static>>;

/// How a request is sent again after a throttle answer.
///
/// Implemented by [`CloneRequest`] (for `Clone` requests), [`NoReplay`] (never retry), and
/// every `Fn(&Req) -> Option<Req>`.
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub trait Replay<Req> {
    /// A copy of `request` to send if the manager throttles this one, or `None` when it cannot
    /// be sent again (the throttle answer is then the response). Called once before each send.
    fn replay(&self, request: &Req) -> Option<Req>;
}

/// Replays a request by cloning it.
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
#[derive(Clone, Copy, Debug, Default)]
pub struct CloneRequest;

impl<Req: Clone> Replay<Req> for CloneRequest {
    fn replay(&self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }
}

/// Never replays: a throttle answer is returned as the response.
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
#[derive(Clone, Copy, Debug, Default)]
pub struct NoReplay;

impl<Req> Replay<Req> for NoReplay {
    fn replay(&self, _: &Req) -> Option<Req> {
        None
    }
}

impl<Req, F: Fn(&Req) -> Option<Req>> Replay<Req> for F {
    fn replay(&self, request: &Req) -> Option<Req> {
        self(request)
    }
}

/// One inner service per manager, shared by every clone of the map.
///
/// Reads (one per call) load a snapshot without locking and clone the manager's service;
/// writers are serialized and replace the whole map (O(managers) each: membership changes
/// are rare next to calls).
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub struct Managers<S> {
    map: Arc<ArcSwap<HashMap<ManagerId, S>>>,
    writer: Arc<Mutex<()>>,
}

impl<S> Clone for Managers<S> {
    fn clone(&self) -> Self {
        Self {
            map: Arc::clone(&self.map),
            writer: Arc::clone(&self.writer),
        }
    }
}

impl<S> Default for Managers<S> {
    fn default() -> Self {
        Self {
            map: Arc::new(ArcSwap::from_pointee(HashMap::new())),
            writer: Arc::new(Mutex::new(())),
        }
    }
}

impl<S> fmt::Debug for Managers<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<ManagerId> = self.map.load().keys().copied().collect();
        ids.sort_unstable();
        f.debug_struct("Managers").field("ids", &ids).finish()
    }
}

impl<S> FromIterator<(ManagerId, S)> for Managers<S> {
    /// A map of `(id, service)` pairs; a repeated id keeps its last service.
    fn from_iter<I: IntoIterator<Item = (ManagerId, S)>>(iter: I) -> Self {
        Self {
            map: Arc::new(ArcSwap::from_pointee(iter.into_iter().collect())),
            writer: Arc::new(Mutex::new(())),
        }
    }
}

impl<S: Clone> Managers<S> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// A clone of `id`'s service, if the map has one. O(1), no lock.
    pub fn get(&self, id: ManagerId) -> Option<S> {
        self.map.load().get(&id).cloned()
    }

    /// Whether the map has a service for `id`. O(1), no lock.
    pub fn contains(&self, id: ManagerId) -> bool {
        self.map.load().contains_key(&id)
    }

    /// How many managers have a service.
    pub fn len(&self) -> usize {
        self.map.load().len()
    }

    /// Whether no manager has a service.
    pub fn is_empty(&self) -> bool {
        self.map.load().is_empty()
    }

    /// The managers that have a service, in ascending id order. O(n log n).
    pub fn ids(&self) -> Vec<ManagerId> {
        let mut ids: Vec<ManagerId> = self.map.load().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Sets `id`'s service, returning the one it replaces. O(managers).
    pub fn insert(&self, id: ManagerId, service: S) -> Option<S> {
        self.update(|map| map.insert(id, service))
    }

    /// Removes `id`'s service, returning it. Calls already holding a clone finish with it.
    /// O(managers); publishes nothing when `id` has none.
    pub fn remove(&self, id: ManagerId) -> Option<S> {
        let _writer = self.writer.lock();
        let cur = self.map.load_full();
        if !cur.contains_key(&id) {
            return None;
        }
        let mut map = HashMap::clone(&cur);
        let old = map.remove(&id);
        self.map.store(Arc::new(map));
        old
    }

    /// Replaces the whole map with `(id, service)` pairs (a repeated id keeps its last
    /// service). O(managers).
    pub fn replace<I: IntoIterator<Item = (ManagerId, S)>>(&self, services: I) {
        let map = services.into_iter().collect();
        let _writer = self.writer.lock();
        self.map.store(Arc::new(map));
    }

    fn update<T>(&self, edit: impl FnOnce(&mut HashMap<ManagerId, S>) -> T) -> T {
        let _writer = self.writer.lock();
        let mut map = HashMap::clone(&self.map.load_full());
        let out = edit(&mut map);
        self.map.store(Arc::new(map));
        out
    }
}

/// Why a [`RouterService`] call failed. `E` is the inner services' error.
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
#[non_exhaustive]
#[derive(Debug)]
pub enum RouteError<E> {
    /// The key function found no task in the request. Nothing was routed.
    NoTask,
    /// No manager is healthy ([`Router::route`] returned `None`). Nothing was sent.
    NoManager {
        /// The task of the request.
        task: TaskId,
    },
    /// The router chose a manager that the [`Managers`] map has no service for. Nothing was
    /// sent to it; its permit was released.
    UnknownManager {
        /// The task of the request.
        task: TaskId,
        /// The manager the router chose.
        manager: ManagerId,
    },
    /// The manager's service failed, getting ready or answering. The call is not retried: an
    /// error is not a throttle answer.
    Inner {
        /// The manager whose service failed.
        manager: ManagerId,
        /// Its error.
        source: E,
    },
}

impl<E> fmt::Display for RouteError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoTask => f.write_str("the request names no task"),
            Self::NoManager { task } => write!(f, "no healthy manager for task {task:?}"),
            Self::UnknownManager { task, manager } => write!(
                f,
                "task {task:?} was routed to manager {manager:?}, which has no service"
            ),
            Self::Inner { manager, .. } => write!(f, "the service of manager {manager:?} failed"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for RouteError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Inner { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A response and the [`Route`] that carried it. The route's permit counts the call in flight
/// until it is dropped (see the module docs on when a call is complete).
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
#[must_use = "dropping it at once ends the call's in-flight count"]
#[derive(Debug)]
pub struct Routed<Resp> {
    response: Resp,
    route: Route,
    throttled: bool,
}

impl<Resp> Routed<Resp> {
    /// The response.
    pub fn response(&self) -> &Resp {
        &self.response
    }

    /// The route of the last try: its manager, kind ([`crate::RouteKind::Spillover`] after a
    /// reserved call moved off its arc), and how many managers throttled it before
    /// ([`Route::retries`]).
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// Whether the response is a throttle answer that was not retried (the router's bound was
    /// reached, or the request could not be replayed).
    pub fn is_throttled(&self) -> bool {
        self.throttled
    }

    /// The response and its route; drop the route when the call is complete.
    pub fn into_parts(self) -> (Resp, Route) {
        (self.response, self.route)
    }

    /// The response alone, ending the call's in-flight count now.
    pub fn into_response(self) -> Resp {
        self.response
    }
}

/// The host's policy: task key, throttle test, replay.
struct Policy<K, T, R> {
    key: K,
    throttled: T,
    replay: R,
}

/// Wraps a [`Managers`] map into a [`RouterService`]. Cheap to clone.
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub struct RouterLayer<K, T, R, C: Clock = MonotonicClock> {
    router: Arc<Router<C>>,
    policy: Arc<Policy<K, T, R>>,
}

impl<K, T, R, C: Clock> RouterLayer<K, T, R, C> {
    /// A layer routing through `router`.
    ///
    /// - `key: Fn(&Req) -> Option<TaskId>` gives a request's task (derive [`TaskId`]s once
    ///   where the host can; `None` fails the call with [`RouteError::NoTask`]);
    /// - `throttled: Fn(&S::Response) -> bool` says whether a response is a throttle answer
    ///   (the manager has no capacity for the call);
    /// - `replay` gives the copy of a request to send again after a throttle ([`Replay`]).
    pub fn new(router: Arc<Router<C>>, key: K, throttled: T, replay: R) -> Self {
        Self {
            router,
            policy: Arc::new(Policy {
                key,
                throttled,
                replay,
            }),
        }
    }
}

impl<K, T, R, C: Clock> Clone for RouterLayer<K, T, R, C> {
    fn clone(&self) -> Self {
        Self {
            router: Arc::clone(&self.router),
            policy: Arc::clone(&self.policy),
        }
    }
}

impl<K, T, R, C: Clock> fmt::Debug for RouterLayer<K, T, R, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterLayer")
            .field("router", &self.router)
            .finish_non_exhaustive()
    }
}

impl<S, K, T, R, C: Clock> Layer<Managers<S>> for RouterLayer<K, T, R, C> {
    type Service = RouterService<S, K, T, R, C>;

    fn layer(&self, managers: Managers<S>) -> Self::Service {
        RouterService {
            router: Arc::clone(&self.router),
            managers,
            policy: Arc::clone(&self.policy),
        }
    }
}

/// Routes each request through a [`Router`] to its manager's service (see the module docs).
/// Cheap to clone: clones share the router, the map and the policy.
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub struct RouterService<S, K, T, R, C: Clock = MonotonicClock> {
    router: Arc<Router<C>>,
    managers: Managers<S>,
    policy: Arc<Policy<K, T, R>>,
}

impl<S, K, T, R, C: Clock> RouterService<S, K, T, R, C> {
    /// The router it routes through.
    pub fn router(&self) -> &Arc<Router<C>> {
        &self.router
    }

    /// The map of manager services it sends to.
    pub fn managers(&self) -> &Managers<S> {
        &self.managers
    }
}

impl<S, K, T, R, C: Clock> Clone for RouterService<S, K, T, R, C> {
    fn clone(&self) -> Self {
        Self {
            router: Arc::clone(&self.router),
            managers: self.managers.clone(),
            policy: Arc::clone(&self.policy),
        }
    }
}

impl<S, K, T, R, C: Clock> fmt::Debug for RouterService<S, K, T, R, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterService")
            .field("router", &self.router)
            .field("managers", &self.managers)
            .finish_non_exhaustive()
    }
}

impl<Req, S, K, T, R, C> Service<Req> for RouterService<S, K, T, R, C>
where
    Req: Send + 'static,
    S: Service<Req> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    K: Fn(&Req) -> Option<TaskId> + Send + Sync + 'static,
    T: Fn(&S::Response) -> bool + Send + Sync + 'static,
    R: Replay<Req> + Send + Sync + 'static,
    C: Clock,
{
    type Response = Routed<S::Response>;
    type Error = RouteError<S::Error>;
    type Future = RouterFuture<S::Response, S::Error>;

    /// Always ready: the manager, and so the service whose readiness counts, is chosen per
    /// request; the call's future awaits that service's `poll_ready` (module docs).
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    /// Routes `request` and sends it to its manager, retrying throttle answers (module docs).
    /// Per try: one route or throttle report, one map read and one clone of the manager's
    /// service.
    ///
    /// # Errors
    /// The future fails with [`RouteError::NoTask`] when the key function finds no task,
    /// [`RouteError::NoManager`] when no manager is healthy, [`RouteError::UnknownManager`]
    /// when the map has no service for the chosen manager, and [`RouteError::Inner`] when that
    /// service fails. A throttle answer is not an error: it is the response, marked
    /// [`Routed::is_throttled`], once no retry is left.
    fn call(&mut self, request: Req) -> Self::Future {
        let router = Arc::clone(&self.router);
        let managers = self.managers.clone();
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let task = (policy.key)(&request).ok_or(RouteError::NoTask)?;
            let mut route = router.route(task).ok_or(RouteError::NoManager { task })?;
            let mut request = request;
            loop {
                let manager = route.manager();
                let Some(mut service) = managers.get(manager) else {
                    return Err(RouteError::UnknownManager { task, manager });
                };
                let again = policy.replay.replay(&request);
                let inner = |source| RouteError::Inner { manager, source };
                poll_fn(|cx| service.poll_ready(cx)).await.map_err(inner)?;
                let response = service.call(request).await.map_err(inner)?;
                if !(policy.throttled)(&response) {
                    return Ok(Routed {
                        response,
                        route,
                        throttled: false,
                    });
                }
                match again {
                    Some(next) if router.on_throttle(&mut route) => request = next,
                    _ => {
                        return Ok(Routed {
                            response,
                            route,
                            throttled: true,
                        })
                    }
                }
            }
        })
    }
}
