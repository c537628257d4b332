//! # Placement spec (ring version 1)
//!
//! Placement is a specified function: every frontend built from the same managers, weights,
//! seed and health computes the same arcs, in any process, on any machine, with any crate
//! version of one [`RingVersion`](crate::RingVersion), and in any language that follows this
//! page.
//!
//! All hashes are XXH3 (64- or 128-bit, as named) over the bytes shown, with `++` for
//! concatenation, integers little-endian, and the ASCII domain prefixes written exactly as
//! quoted (no terminator).
//!
//! 1. **Ids.** `ManagerId::from_name(s) = XXH3_64("arcroute:manager:" ++ utf8(s), seed 0)`;
//!    `TaskId::from_name(s) = XXH3_128("arcroute:task:" ++ utf8(s), seed 0)`;
//!    `GroupId::from_name(s) = XXH3_128("arcroute:group:" ++ utf8(s), seed 0)`; the default
//!    group of a task has the task's 128-bit value. A 128-bit value is the integer whose
//!    big-endian bytes are XXH3-128's canonical output.
//! 2. **Points.** A manager `m` of weight `w` has `w × vnodes_per_weight` points (default
//!    160 per unit weight); point `i` (from 0) sits at
//!    `XXH3_64("arcroute:v1:point:" ++ u64le(m) ++ u32le(i), seed)`.
//! 3. **Order.** Points are sorted ascending by `(position, manager id, i)`.
//! 4. **Starts.** A task's reserved arc starts at
//!    `XXH3_64("arcroute:v1:reserved:" ++ u128le(task), seed)`; a group's unreserved arc at
//!    `XXH3_64("arcroute:v1:unreserved:" ++ u128le(group), seed)`.
//! 5. **Arcs.** Arc `(start, len)`: take the first point whose position is `>= start` (the
//!    first point of the ring if none is); walk the points in order, wrapping, for at most one
//!    revolution; a manager joins the arc the first time one of its points is met, if it is
//!    healthy; stop after `len` managers. Slot `k` of the arc is the `k`-th manager to join.
//! 6. **Lengths.** A reserved arc has
//!    `min(healthy, max(min_reserved_arc, ceil(max(limit, ready) / reserved_per_manager)))`
//!    managers, `healthy` being the number of healthy managers (so it wins when it is below
//!    `min_reserved_arc`); 0 for a reservation of 0 with nothing ready. Its `k`-th manager
//!    holds `limit / len` reserved environments (integer division), plus one if
//!    `k < limit % len`.
//!
//! `seed` is the fleet-wide [`RingConfig::seed`](crate::RingConfig::seed);
//! `reserved_per_manager` and `min_reserved_arc` are [`AssignConfig`](crate::AssignConfig)
//! fields (defaults 16 and 2).
//!
//! Unreserved arc *lengths* depend on each frontend's own load and are not part of the spec;
//! the arc for a given length is.
//!
//! # What follows from it
//!
//! - **Arcs hold distinct healthy managers**: `min(len, healthy)` of them, in a fixed order.
//!   Adding or removing one manager changes an arc only by that manager entering or leaving
//!   it at one position (the managers after it shift by one slot, the last may drop out or
//!   come in); health changes skip a manager in the same way, without moving any other.
//! - **Changing `vnodes_per_weight` or the seed moves every arc**, as a new ring version
//!   would: roll it out to all frontends at once, and re-provision reserved environments on
//!   the new reserved arcs ([`Router::reserved_arc`](crate::Router::reserved_arc)).
//!   `reserved_per_manager` and `min_reserved_arc` size reserved arcs and must also agree
//!   across frontends.
//!
//! # The seed
//!
//! With the default seed 0 anyone can compute arcs from this page and pick names that pile
//! onto one manager: 256 chosen names all start on one of 16 managers, where under a secret
//! seed the same names spread like random ones (`tests/hostile.rs`; figures in
//! `RELIABILITY.md`). The seed enters the ring's points and every arc start, reserved and
//! unreserved. Draw it once, at random (64 bits from the OS), keep it like a key, and give
//! the same seed to every frontend of the fleet: a frontend with another seed computes other
//! arcs, so its calls scatter and environments go cold. Rotate it only as a full
//! re-placement (above). Task ids ([`TaskId::from_name`](crate::TaskId::from_name)) and the
//! live map's shards do not depend on the seed.
//!
//! [`TaskId::from_name`](crate::TaskId::from_name) is 128 bits of XXH3, which is not
//! collision resistant against an adversary; derive ids from keys tenants cannot choose
//! freely (for example a platform-assigned function id).
//!
//! # Golden vectors
//!
//! `tests/data/golden_v1.txt` pins the points of two small fleets and the arcs of ten tasks;
//! an implementation in another language should reproduce it byte for byte. A reference
//! implementation in Python lives in `tests/reference/placement.py` and is run by CI against
//! the golden vectors. The file's header gives the line formats; in addition, each `ring` line
//! builds a ring of every `manager` line above it (with their weights), and the `point`,
//! `start`, `arc`, `arc_down` and `reserved` lines that follow it, up to the next `ring` line,
//! are of that ring. `start` lines use the task's default group; `arc` and `arc_down` lines
//! list whole arcs (`len` = the number of managers of the ring, all healthy but the one
//! `DOWN_ID`); `reserved` lines list the task's reserved arc with all managers healthy and the
//! default [`AssignConfig`](crate::AssignConfig).
