//! # Operating a router
//!
//! What a host does around the read path: feeding it, bounding its memory, and the costs that
//! grow with the fleet. Measured figures are in `BENCHMARKS.md` and `RELIABILITY.md`.
//!
//! # Feeding the router
//!
//! - **Report readiness.** Reserved calls count against `ready`, the environments the host
//!   says are warm ([`Router::set_ready`](crate::Router::set_ready)). A reservation whose
//!   `ready` stays 0 sends every call to spillover.
//! - **Hold the permit for the whole call.** Dropping a [`Route`](crate::Route) ends its
//!   count; dropping it early makes the router believe the task is idle and over-admit
//!   reserved calls.
//! - **Writes publish whole snapshots.** Writers are serialized and publish ring, health,
//!   reservations, config and generation together; a route never sees half of a change, and
//!   a write that changes nothing publishes nothing. A
//!   [`FleetConfig`](crate::FleetConfig) applies whole: checked first, then published as one
//!   snapshot; versions only move forward.
//! - **Bad input changes nothing**: every writer validates first and returns a typed
//!   [`Error`](crate::Error).
//!
//! # The read path
//!
//! A route loads the snapshot once (through a per-thread
//! [`LocalRouter`](crate::LocalRouter), one pointer check while nothing was published) and
//! never locks it. Per-task live state sits in a 64-way sharded map: a warm route takes one
//! shard's read lock, and a task's first route in a while its write lock, which in a shard of
//! 1,024 entries or more also sweeps the next 8 buckets of that shard (O(1) per new task: a
//! few entries looked at, never the whole shard). A key's shard is chosen under a random key
//! of each router's own, so names chosen offline cannot pile into one shard. A warm route
//! allocates nothing, computes no placement hash when routed by a precomputed
//! [`TaskId`](crate::TaskId) (arc starts are kept in its live state; one keyed hash of the id
//! finds its shard), and reads the clock only where a rule needs the time: an arc's shrink
//! timer, a reservation past its share, every reserved admission under
//! [`Counting::Global`](crate::Counting::Global).
//!
//! Threads share what routes write. Every route writes its task's state (the call's count,
//! its member's count, the state's reference count) and its shard's lock word, so threads
//! that route through one router hand those cache lines to each other: on a 2-core machine
//! two threads calling the same 1,000 tasks did 0.6 to 0.9 times the routes a second of one
//! thread, and two threads on tasks of their own 1.15 to 1.4 times (one thread: about 24
//! million a second; `cargo bench --bench scaling`, `BENCHMARKS.md`). The counts are the
//! design (an arc grows with its task's calls in flight), not a layout to pad away.
//!
//! A host that needs more runs several [`Router`](crate::Router)s, each a frontend of its
//! own ([many frontends](super::frontends)); not [`Router::local`](crate::Router::local)
//! handles, which write their router's counts. Two threads each making the same calls on a
//! router of its own did 1.7 to 1.9 times one thread's rate: they write nothing in common.
//! They cost what more frontends cost:
//!
//! - each router must see about `1/F` of every function's calls, as on a work-stealing
//!   runtime (threads that each serve their own functions make arcs `F` times too wide),
//!   and `F` counts every router of every process, each with its own index;
//! - each admits reserved calls against its share of `ready` (none where `F` exceeds it),
//!   so reserved cold starts grow with `F`: on the simulator's trace, 156 with 4 frontends
//!   and 433 with 16 counting locally, 68 and 140 under
//!   [`Counting::Global`](crate::Counting::Global) fed with the sum of the routers' counts
//!   (README, Many frontends);
//! - every report, reservation and config goes to every router; each sweeps and holds its
//!   own live state (memory `F` times) and keeps its own [`Stats`](crate::Stats);
//! - a throttle goes back to the router that made the route
//!   ([`Router::on_throttle`](crate::Router::on_throttle)), which the current thread's
//!   router after an `.await` may not be.
//!
//! # Memory
//!
//! Per-task live state is evicted once idle for
//! [`RouterConfig::idle_ttl`](crate::RouterConfig::idle_ttl) with no permit out, by
//! [`Router::evict_idle`](crate::Router::evict_idle) and by amortized sweeps when new tasks
//! arrive (never earlier; later by up to two sweep intervals, since routes mark a use without
//! reading the clock). A sweep that leaves a shard under a quarter full gives the room back,
//! so memory follows the live tasks down after a burst. The bytes a live task costs, and what
//! one sweep gives back, are measured in `RELIABILITY.md` (Memory).
//!
//! [`Router::evict_idle`](crate::Router::evict_idle) is O(live entries) in all, but it holds
//! a shard's write lock for 256 buckets at a time (at most 256 entries looked at), then lets
//! the routes waiting on that shard go; a shard left under a quarter full is then shrunk once,
//! O(its buckets). A route never waits for a whole shard's sweep. Its cost per entry, and the
//! routes measured while it runs, are in `RELIABILITY.md` (Memory, Hostile names).
//!
//! # Costs that grow
//!
//! - **Large arcs and outages.** Choosing slot `k` walks the points up to the `k`-th distinct
//!   healthy manager: about `k / (1 − d)` points while `k` is small next to the fleet, where
//!   `d` is the fraction of managers down. Large arcs, or a fleet with most managers down,
//!   cost more per route; the walk never exceeds one revolution of the ring.
//! - **Packing.** [`Pick::Pack`](crate::Pick::Pack) (the default) looks at up to the first 8
//!   members of an arc (and, past them, the member whose turn it is and up to 8 after it),
//!   one relaxed load of a count and of a reported load each, and moves one per-slot count
//!   per call; its counts add 16 bytes to each live task's state. The arc's first member,
//!   once found under the snapshot in use, is kept in the task's state with that snapshot's
//!   generation (8 more bytes), so that a route taking it reads nothing of the ring but the
//!   manager's id, until a publish changes the generation. Feed
//!   [`Router::report_load`](crate::Router::report_load) periodically (calls running plus
//!   idle reserved environments) to bound load inside arcs, with
//!   [`RouterConfig::load_floor`](crate::RouterConfig::load_floor) at the managers' cores;
//!   without reports there is no bound.
//! - **Reserved calls** within a frontend's share take the first slot of its range of the
//!   reserved arc (see [`docs::frontends`](super::frontends)) where its counts leave one of
//!   its environments free: one relaxed load and at most one atomic add (undone when the
//!   slot is full) per slot looked at, from a hint past the slots found full before (O(1)
//!   while the free places are where it points; at most every counted slot, up to 1,024),
//!   plus the chosen slot's manager: the first slot's as the task's state kept it under the
//!   current snapshot, any other's by a walk from a remembered ring index, as unreserved
//!   arcs do. Live state is 96 bytes a task (112 with its `Arc`, and its bucket in the map
//!   17); a task that holds a reservation adds a reserved half of 184 bytes, made on its
//!   first reserved route or host report, and 64 bytes a page of 64 slot counts its range
//!   reaches (at most 16 pages: 1,024 slots), each made by the first call counted in it: the
//!   one allocation a warm reserved route can make, at most 16 times in a task's life.
//! - **Throttles** move a call to the next member Pack would fill (marking the one it left
//!   full), else to the first manager past the arc when it reports less load than the full
//!   one, else (and under the other picks) to the manager after its slot, and never widen
//!   the arc; a run of throttles walks as far as it probes, at most as many moves as healthy
//!   managers less one. Arcs shrink, once load has stayed under the lower threshold for
//!   `shrink_delay`, straight to what the load needs.
//! - **An outage costs milliseconds a call, not microseconds.** With `h` of N managers
//!   healthy, an arc walks past every down manager's points to the nearest healthy one: about
//!   P / (the healthy managers' points) points a route, whatever the arc length. With 1 of
//!   1,000,000 managers healthy (16 points each, 16 million in all) a route walks about a
//!   million points: measured at 76 ms a route on average (378 ms at worst over 1,000 tasks),
//!   and 5.8 ms with 1 of 100,000 managers of 160 points (100,000 points walked), on a 2-core
//!   machine that was also running other builds (load average 15): expect less on an idle
//!   core, but the walk grows with N (`tests/outage.rs`, ignored run). Routing keeps working
//!   (it never fails while one manager is healthy), but every frontend thread spends that long
//!   per call: shed load, or shrink the ring to the managers that are up with
//!   [`Router::set_managers`](crate::Router::set_managers), when most of the fleet is down.
//! - **Membership changes** rebuild the ring, O(P log P) for P points; health changes reuse
//!   it with a new mask, and reservation changes copy one of 64 table shards, so loading R
//!   reservations one call at a time is O(R²/64): load them with
//!   [`Router::update_reservations`](crate::Router::update_reservations), one publish that
//!   copies each shard once. Figures in `BENCHMARKS.md` (Writers) and `RELIABILITY.md`.
//! - **Ring builds** are bounded by [`MAX_POINTS`](crate::MAX_POINTS) (2²⁴ points): at most
//!   260 MiB for a ring, about 470 MB at the peak of its build, about 740 MB while a rebuild
//!   keeps the current ring, whatever the weights a host sends.
//!
//! # Ids
//!
//! **Task and group ids share one key space** for live state:
//! [`TaskId::new`](crate::TaskId::new)`(n)` and [`GroupId::new`](crate::GroupId::new)`(n)`
//! are the same key (that is how a task is its own default group). Take numeric task and
//! group ids from separate ranges, or derive them from names.
