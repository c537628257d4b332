//! A warm route and its permit drop allocate nothing (counted by a global allocator).

// The counting allocator is the one piece of unsafe code in the project, and only in this test.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use arcroute::{Reservation, TaskId};

mod support;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to `System` unchanged; the counter is a thread-local `Cell`
// that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn warm_routes_and_permit_drops_do_not_allocate() {
    let router = support::router(1000);
    let unreserved = TaskId::from_name("unreserved");
    let reserved = TaskId::from_name("reserved");
    router.put_reservation(reserved, Reservation::new(4, 4));
    // The first route of a task makes its live state: that one allocates.
    assert!(allocations_during(|| drop(router.route(unreserved))) > 0);
    drop(router.route(reserved));

    let mut held = Vec::with_capacity(64);
    let mut local = router.local();
    drop(local.route(unreserved));
    let counted = allocations_during(|| {
        for _ in 0..10_000 {
            drop(router.route(unreserved));
            drop(local.route(unreserved));
        }
        // Reserved, then spillover once the share is held; arcs grow as calls pile up.
        for _ in 0..64 {
            held.extend(router.route(reserved));
        }
        held.clear();
    });
    assert_eq!(counted, 0, "a warm route or a permit drop allocated");
}
