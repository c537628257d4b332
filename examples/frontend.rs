//! A frontend over real sockets: manager servers on loopback, and a frontend that sends a
//! burst of HTTP calls through arcroute's tower layer, then prints where the calls went, the
//! spillovers and the throttles. Run it with
//! `cargo run --release --features tower --example frontend`.
//!
//! Each manager is a hyper server on `127.0.0.1` (an ephemeral port). It holds a few
//! environments of every function, plus the reserved environments the router's reserved arc
//! asks it to provision; a call runs for a few milliseconds in one of them, and a call that
//! finds every environment of its function busy gets `429 Too Many Requests`. `GET /status`
//! reports the manager's load and its warm reserved environments.
//!
//! The frontend polls every manager's status, feeding [`Router::report_load`] and
//! [`Router::set_ready`], and sends each call through [`RouterLayer`] with a hyper client per
//! manager as the inner service: a 429 becomes [`Router::on_throttle`] and a retry on the next
//! manager, and the call's permit is held until its response body has been read.
//!
//! Everything is bounded: a fixed number of calls, a timeout on each, and one on the run.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arcroute::tower::{Managers, RouterLayer};
use arcroute::{ManagerId, Pick, RouteKind, Router, RouterConfig, TaskId};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tower_layer::Layer;
use tower_service::Service;

/// What to run.
#[derive(Clone, Copy, Debug)]
struct Options {
    /// Manager servers.
    managers: usize,
    /// Environments each manager holds of every function.
    environments: u32,
    /// Reserved environments of the reserved function, fleet-wide.
    reserved: u32,
    /// How long a call runs on its manager.
    work: Duration,
    /// Waves of calls; each wave's calls are sent at once.
    waves: usize,
    /// Timeout of one call, retries included.
    call_timeout: Duration,
    /// Timeout of the whole run.
    run_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            managers: 5,
            environments: 2,
            reserved: 4,
            work: Duration::from_millis(30),
            waves: 6,
            call_timeout: Duration::from_secs(2),
            run_timeout: Duration::from_secs(20),
        }
    }
}

/// The reserved function, and how many calls of each function one wave sends.
const RESERVED: &str = "shop/checkout";
const WAVE: [(&str, usize); 4] = [
    (RESERVED, 8),
    ("media/resize", 12),
    ("media/thumbnail", 3),
    ("mail/notify", 1),
];

// ---------------------------------------------------------------------------------------------
// Manager servers.

/// One manager's state, shared by its connections.
#[derive(Debug, Default)]
struct ManagerState {
    /// Environments of every function.
    environments: u32,
    /// Reserved environments provisioned here, per function.
    reserved: HashMap<String, u32>,
    /// When the reserved environments are warm.
    warm_at: Option<Instant>,
    work: Duration,
    /// Calls running here, per function.
    running: Mutex<HashMap<String, u32>>,
    /// Calls running here in all.
    load: AtomicU32,
    /// Calls served (200) and refused (429), counted where they arrive.
    served: AtomicU64,
    throttled: AtomicU64,
}

impl ManagerState {
    /// Takes an environment of `function`, or `false` when all are busy.
    fn enter(&self, function: &str) -> bool {
        let capacity = self.environments + self.reserved.get(function).copied().unwrap_or(0);
        let mut running = self.running.lock().unwrap();
        let n = running.entry(function.to_owned()).or_insert(0);
        if *n >= capacity {
            return false;
        }
        *n += 1;
        self.load.fetch_add(1, Relaxed);
        true
    }

    fn exit(&self, function: &str) {
        if let Some(n) = self.running.lock().unwrap().get_mut(function) {
            *n -= 1;
        }
        self.load.fetch_sub(1, Relaxed);
    }

    /// `load N`, then `ready FUNCTION N` for each function with warm reserved environments.
    fn status(&self) -> String {
        let mut out = format!("load {}\n", self.load.load(Relaxed));
        if self.warm_at.is_some_and(|at| Instant::now() >= at) {
            for (function, n) in &self.reserved {
                out.push_str(&format!("ready {function} {n}\n"));
            }
        }
        out
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

async fn serve(
    state: Arc<ManagerState>,
    name: String,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    if request.method() == Method::GET && path == "/status" {
        return Ok(text(StatusCode::OK, state.status()));
    }
    let Some(function) = path.strip_prefix("/invoke/") else {
        return Ok(text(StatusCode::NOT_FOUND, "no such endpoint\n".into()));
    };
    if !state.enter(function) {
        state.throttled.fetch_add(1, Relaxed);
        return Ok(text(
            StatusCode::TOO_MANY_REQUESTS,
            "no free environment\n".into(),
        ));
    }
    tokio::time::sleep(state.work).await;
    state.exit(function);
    state.served.fetch_add(1, Relaxed);
    Ok(text(StatusCode::OK, format!("{function} ran on {name}\n")))
}

/// Binds an ephemeral loopback port and serves `state` on it until the runtime stops.
async fn start_manager(name: String, state: Arc<ManagerState>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (state, name) = (Arc::clone(&state), name.clone());
            let service = hyper::service::service_fn(move |request| {
                serve(Arc::clone(&state), name.clone(), request)
            });
            tokio::spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                // A client that goes away mid-call is not an error of the server.
                let _ = connection.await;
            });
        }
    });
    Ok(addr)
}

// ---------------------------------------------------------------------------------------------
// The frontend.

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The inner service of one manager: the shared hyper client, aimed at the manager's address.
#[derive(Clone, Debug)]
struct ManagerClient {
    client: HttpClient,
    addr: SocketAddr,
}

impl Service<Request<Full<Bytes>>> for ManagerClient {
    type Response = Response<Incoming>;
    type Error = hyper_util::client::legacy::Error;
    type Future = hyper_util::client::legacy::ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::<Request<Full<Bytes>>>::poll_ready(&mut self.client, cx)
    }

    fn call(&mut self, mut request: Request<Full<Bytes>>) -> Self::Future {
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        if let Ok(uri) = Uri::try_from(format!("http://{}{path}", self.addr)) {
            *request.uri_mut() = uri;
        }
        self.client.request(request)
    }
}

/// A copy of a buffered request, to send again after a 429.
fn replay(request: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    Some(copy)
}

/// Polls every manager's status once: load to [`Router::report_load`], warm reserved
/// environments (summed over managers) to [`Router::set_ready`].
async fn poll_status(
    router: &Router,
    client: &HttpClient,
    managers: &[(ManagerId, SocketAddr)],
    tasks: &HashMap<String, TaskId>,
) {
    let mut ready: HashMap<TaskId, u32> = HashMap::new();
    for &(id, addr) in managers {
        let Ok(uri) = Uri::try_from(format!("http://{addr}/status")) else {
            continue;
        };
        let Ok(Ok(response)) =
            tokio::time::timeout(Duration::from_millis(500), client.get(uri)).await
        else {
            continue; // a manager that does not answer keeps its last report
        };
        let Ok(body) = response.into_body().collect().await else {
            continue;
        };
        let body = String::from_utf8_lossy(&body.to_bytes()).into_owned();
        for line in body.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[..] {
                ["load", n] => {
                    if let Ok(n) = n.parse() {
                        let _ = router.report_load(id, n);
                    }
                }
                ["ready", function, n] => {
                    if let (Some(&task), Ok(n)) = (tasks.get(function), n.parse::<u32>()) {
                        *ready.entry(task).or_insert(0) += n;
                    }
                }
                _ => {}
            }
        }
    }
    for (task, n) in ready {
        let _ = router.set_ready(task, n);
    }
}

/// One call as the frontend saw it.
#[derive(Clone, Debug)]
struct Call {
    function: &'static str,
    /// `None` when the call failed or timed out.
    outcome: Option<Outcome>,
}

#[derive(Clone, Copy, Debug)]
struct Outcome {
    manager: ManagerId,
    kind: RouteKind,
    /// Managers that answered 429 before this one.
    retries: u32,
    status: StatusCode,
}

/// What a run did, from both ends of the sockets.
#[derive(Debug)]
struct Report {
    calls: Vec<Call>,
    /// Server-side counts per manager: `(name, id, served, throttled)`.
    servers: Vec<(String, ManagerId, u64, u64)>,
    reserved_arc: Vec<ManagerId>,
    stats: arcroute::Stats,
    errors: Vec<String>,
    elapsed: Duration,
}

fn run(options: Options) -> Result<Report, Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        tokio::time::timeout(options.run_timeout, frontend(options))
            .await
            .map_err(|_| "the run timed out")?
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    report
}

async fn frontend(options: Options) -> Result<Report, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let names: Vec<String> = (0..options.managers)
        .map(|i| format!("manager-{i}"))
        .collect();
    let ids: Vec<ManagerId> = names.iter().map(|n| ManagerId::from_name(n)).collect();
    let mut config = RouterConfig::default();
    config.pick = Pick::LeastLoadedOfTwo; // fed by the managers' load reports
    let router = Arc::new(
        Router::builder()
            .config(config)
            .managers(ids.iter().map(|&id| (id, 1)))
            .build()?,
    );

    // Functions are deployed: task ids derived once, one reservation.
    let tasks: HashMap<String, TaskId> = WAVE
        .iter()
        .map(|&(name, _)| (name.to_owned(), TaskId::from_name(name)))
        .collect();
    let reserved_task = tasks[RESERVED];
    router.set_reservation(reserved_task, options.reserved);
    let reserved_arc = router.reserved_arc(reserved_task);

    // Managers provision what the reserved arc asks of them, warm shortly after they start.
    let warm_at = Instant::now() + Duration::from_millis(50);
    let mut servers = Vec::new();
    for (name, &id) in names.iter().zip(&ids) {
        let reserved = reserved_arc
            .iter()
            .filter(|slot| slot.manager == id && slot.environments > 0)
            .map(|slot| (RESERVED.to_owned(), slot.environments))
            .collect();
        let state = Arc::new(ManagerState {
            environments: options.environments,
            reserved,
            warm_at: Some(warm_at),
            work: options.work,
            ..ManagerState::default()
        });
        let addr = start_manager(name.clone(), Arc::clone(&state)).await?;
        servers.push((name.clone(), id, addr, state));
    }
    let addrs: Vec<(ManagerId, SocketAddr)> = servers
        .iter()
        .map(|(_, id, addr, _)| (*id, *addr))
        .collect();

    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let managers = Managers::from_iter(addrs.iter().map(|&(id, addr)| {
        let client = client.clone();
        (id, ManagerClient { client, addr })
    }));

    // The status feed: until every reserved environment is warm, then in the background.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        poll_status(&router, &client, &addrs, &tasks).await;
        let ready = router.reservation(reserved_task).map_or(0, |r| r.ready);
        if ready >= options.reserved || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let feed = {
        let (router, client, addrs, tasks) = (
            Arc::clone(&router),
            client.clone(),
            addrs.clone(),
            tasks.clone(),
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                poll_status(&router, &client, &addrs, &tasks).await;
                router.evict_idle();
            }
        })
    };

    let key = {
        let tasks = tasks.clone();
        move |request: &Request<Full<Bytes>>| {
            let function = request.uri().path().strip_prefix("/invoke/")?;
            tasks.get(function).copied()
        }
    };
    let is_throttle =
        |response: &Response<Incoming>| response.status() == StatusCode::TOO_MANY_REQUESTS;
    let layer = RouterLayer::new(Arc::clone(&router), key, is_throttle, replay);
    let service = layer.layer(managers);

    let mut calls = Vec::new();
    let mut errors = Vec::new();
    for _ in 0..options.waves {
        let mut wave = Vec::new();
        for &(function, count) in &WAVE {
            for _ in 0..count {
                let mut service = service.clone();
                let request = Request::post(format!("http://frontend/invoke/{function}"))
                    .body(Full::new(Bytes::from_static(b"{}")))?;
                let timeout = options.call_timeout;
                wave.push(tokio::spawn(async move {
                    let call = async {
                        let routed = service.call(request).await.map_err(|e| e.to_string())?;
                        let (response, route) = routed.into_parts();
                        let status = response.status();
                        // The call is complete once its body is read: the permit goes then.
                        let body = response.into_body().collect().await;
                        let outcome = Outcome {
                            manager: route.manager(),
                            kind: route.kind(),
                            retries: route.retries(),
                            status,
                        };
                        drop(route);
                        body.map(|_| outcome).map_err(|e| e.to_string())
                    };
                    let result: Result<Outcome, String> =
                        match tokio::time::timeout(timeout, call).await {
                            Ok(Ok(outcome)) => Ok(outcome),
                            Ok(Err(e)) => Err(e),
                            Err(_) => Err("timed out".to_owned()),
                        };
                    (function, result)
                }));
            }
        }
        for handle in wave {
            let (function, result) = handle.await?;
            match result {
                Ok(outcome) => calls.push(Call {
                    function,
                    outcome: Some(outcome),
                }),
                Err(e) => {
                    errors.push(format!("{function}: {e}"));
                    calls.push(Call {
                        function,
                        outcome: None,
                    });
                }
            }
        }
    }
    feed.abort();

    let servers = servers
        .iter()
        .map(|(name, id, _, state)| {
            let served = state.served.load(Relaxed);
            (name.clone(), *id, served, state.throttled.load(Relaxed))
        })
        .collect();
    Ok(Report {
        calls,
        servers,
        reserved_arc: reserved_arc.iter().map(|slot| slot.manager).collect(),
        stats: router.stats(),
        errors,
        elapsed: started.elapsed(),
    })
}

fn print(report: &Report) {
    let name_of: HashMap<ManagerId, &str> = report
        .servers
        .iter()
        .map(|(name, id, _, _)| (*id, name.as_str()))
        .collect();
    println!(
        "{} calls over loopback to {} managers in {:.0?}",
        report.calls.len(),
        report.servers.len(),
        report.elapsed
    );
    let reserved: Vec<&str> = report.reserved_arc.iter().map(|id| name_of[id]).collect();
    println!("reserved arc of {RESERVED}: {}", reserved.join(", "));
    println!();
    println!(
        "{:<18} {:>9} {:>11} {:>10} {:>8} {:>10}",
        "function", "reserved", "unreserved", "spillover", "retried", "final 429"
    );
    let mut by_function: BTreeMap<&str, [u32; 5]> = BTreeMap::new();
    for call in &report.calls {
        let row = by_function.entry(call.function).or_default();
        let Some(o) = call.outcome else { continue };
        match o.kind {
            RouteKind::Reserved => row[0] += 1,
            RouteKind::Unreserved => row[1] += 1,
            RouteKind::Spillover => row[2] += 1,
        }
        row[3] += u32::from(o.retries > 0);
        row[4] += u32::from(o.status == StatusCode::TOO_MANY_REQUESTS);
    }
    for (function, row) in &by_function {
        println!(
            "{function:<18} {:>9} {:>11} {:>10} {:>8} {:>10}",
            row[0], row[1], row[2], row[3], row[4]
        );
    }
    println!();
    println!(
        "{:<12} {:>12} {:>14} {:>16}",
        "manager", "served (200)", "refused (429)", "last try here"
    );
    for (name, id, served, throttled) in &report.servers {
        let routed = report
            .calls
            .iter()
            .filter(|c| c.outcome.is_some_and(|o| o.manager == *id))
            .count();
        println!("{name:<12} {served:>12} {throttled:>14} {routed:>16}");
    }
    let s = &report.stats;
    println!();
    println!(
        "router: {} reserved, {} unreserved, {} spillover routes; {} spillovers; {} throttles \
         ({} exhausted); {} arc grows; in flight now {} reserved, {} unreserved",
        s.routes_reserved,
        s.routes_unreserved,
        s.routes_spillover,
        s.spillovers,
        s.throttles,
        s.throttles_exhausted,
        s.arc_grows,
        s.in_flight_reserved,
        s.in_flight_unreserved
    );
    for e in &report.errors {
        println!("failed: {e}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let report = run(Options::default())?;
    print(&report);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole example over loopback sockets, small: every call answered, and the servers'
    /// own counters agree with what the frontend and the router saw.
    #[test]
    fn calls_cross_the_sockets_and_every_count_agrees() {
        let options = Options {
            managers: 4,
            waves: 3,
            run_timeout: Duration::from_secs(15),
            ..Options::default()
        };
        let report = run(options).expect("the run completes");
        let calls = WAVE.iter().map(|&(_, n)| n).sum::<usize>() * options.waves;
        assert_eq!(report.calls.len(), calls);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert!(report.elapsed < Duration::from_secs(15));
        let outcomes: Vec<Outcome> = report.calls.iter().filter_map(|c| c.outcome).collect();

        // Server side: every 200 the frontend got was served by a manager, every send arrived.
        let served: u64 = report.servers.iter().map(|s| s.2).sum();
        let refused: u64 = report.servers.iter().map(|s| s.3).sum();
        let ok = outcomes
            .iter()
            .filter(|o| o.status == StatusCode::OK)
            .count() as u64;
        let sends: u64 = outcomes.iter().map(|o| u64::from(o.retries) + 1).sum();
        assert_eq!(served, ok);
        assert_eq!(served + refused, sends);
        for (_, id, served, _) in &report.servers {
            let here = outcomes
                .iter()
                .filter(|o| o.manager == *id && o.status == StatusCode::OK)
                .count() as u64;
            assert_eq!(
                *served, here,
                "manager {id:?} served what the frontend says"
            );
        }

        // Router side: each 429 that crossed a socket was one throttle report.
        let s = report.stats;
        assert_eq!(s.throttles, refused);
        let final_429 = outcomes
            .iter()
            .filter(|o| o.status == StatusCode::TOO_MANY_REQUESTS)
            .count() as u64;
        assert_eq!(s.throttles_exhausted, final_429);
        assert_eq!((s.in_flight_reserved, s.in_flight_unreserved), (0, 0));

        // The reserved function was served on its reserved arc, and spilled over beyond it.
        let reserved: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.kind == RouteKind::Reserved)
            .collect();
        assert!(!reserved.is_empty());
        assert!(reserved
            .iter()
            .all(|o| report.reserved_arc.contains(&o.manager)));
        assert!(outcomes.iter().any(|o| o.kind == RouteKind::Spillover));
    }
}
