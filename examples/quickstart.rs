//! Where calls go: a small fleet, one reserved function and one on-demand function.
//!
//! Run with `cargo run --release --example quickstart`.

use arcroute::{ManagerId, Route, Router, TaskId};

fn main() -> Result<(), arcroute::Error> {
    let names: Vec<String> = (1..=6).map(|i| format!("manager-{i}")).collect();
    let name_of = |id: ManagerId| {
        names
            .iter()
            .find(|n| ManagerId::from_name(n) == id)
            .map_or("?", String::as_str)
    };
    let router = Router::builder()
        .managers(names.iter().map(|n| (ManagerId::from_name(n), 1)))
        .build()?;

    // A function with 3 reserved environments, all reported warm by the host.
    let checkout = TaskId::from_name("shop/checkout");
    router.set_reservation(checkout, 3);
    router.set_ready(checkout, 3)?;
    println!("reserved arc of shop/checkout (provision these):");
    for slot in router.reserved_arc(checkout) {
        println!(
            "  {:<10} {} environments",
            name_of(slot.manager),
            slot.environments
        );
    }

    println!("\n5 concurrent calls of shop/checkout:");
    let held: Vec<Route> = (0..5).filter_map(|_| router.route(checkout)).collect();
    for (i, route) in held.iter().enumerate() {
        println!(
            "  call {}: {:<10} {:?}",
            i + 1,
            name_of(route.manager()),
            route.kind()
        );
    }
    drop(held); // the calls end: their permits release the reservation

    // An on-demand function: its arc grows with concurrency.
    let resize = TaskId::from_name("media/resize");
    println!("\nmedia/resize as its concurrency rises:");
    let mut held = Vec::new();
    for burst in [1, 8, 24, 64] {
        while held.len() < burst {
            held.extend(router.route(resize));
        }
        let arc: Vec<&str> = router
            .unreserved_arc(resize.into())
            .into_iter()
            .map(name_of)
            .collect();
        println!("  {burst:>3} in flight -> arc {arc:?}");
    }

    // A manager says it is full: the call moves along the arc, which grows.
    if let Some(route) = held.last_mut() {
        let before = name_of(route.manager());
        if router.on_throttle(route) {
            println!(
                "\nthrottled on {before}, retrying on {}",
                name_of(route.manager())
            );
        }
    }
    drop(held);

    let stats = router.stats();
    println!(
        "\nroutes: {} reserved, {} spillover, {} unreserved; in flight now: {}",
        stats.routes_reserved,
        stats.routes_spillover,
        stats.routes_unreserved,
        stats.in_flight_reserved + stats.in_flight_unreserved
    );
    Ok(())
}
