//! The simulator's trace loader (`examples/simulate/workload/trace.rs`, compiled in as it
//! is): any bytes as the three files of an Azure Functions 2019 trace, any minute range and
//! arrival mode. It returns a workload or an error at a place in one of the files, never
//! panics; a workload holds what the files say, in order, within the range and the call cap.
//!
//! Input: two bytes of range start and one of length (little-endian), one of arrival mode,
//! then `inv.csv`, `run.csv` and `mem.csv` separated by NUL bytes (which no valid file holds).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../../examples/simulate/rng.rs"]
mod rng;
#[allow(dead_code, unused_imports)]
#[path = "../../../examples/simulate/workload/mod.rs"]
mod workload;

use workload::trace::{parse_trace, TraceFile};
use workload::{Arrivals, MAX_CALLS};

const NAMES: [&str; 3] = ["inv.csv", "run.csv", "mem.csv"];

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let start = u32::from(u16::from_le_bytes([head[0], head[1]]));
    let minutes = start..start + u32::from(head[2]);
    let arrivals = if head[3] & 1 == 0 {
        Arrivals::Even
    } else {
        Arrivals::Random
    };
    let mut files = rest.splitn(3, |&b| b == 0);
    let (inv, run, mem) = (
        files.next().unwrap_or_default(),
        files.next().unwrap_or_default(),
        files.next().unwrap_or_default(),
    );
    let load = || {
        let file = |i: usize, bytes| TraceFile {
            name: NAMES[i].to_owned(),
            bytes,
        };
        parse_trace(
            file(0, inv),
            file(1, run),
            file(2, mem),
            minutes.clone(),
            arrivals,
            7,
            "fuzz".to_owned(),
        )
    };
    match load() {
        Err(e) => {
            assert!(!e.message.is_empty());
            assert!(
                NAMES.contains(&e.file.as_str()) || (e.file == "fuzz" && e.line == 0),
                "{e:?}"
            );
            assert_eq!(e.line == 0, e.column == 0, "a place has both: {e:?}");
            let _ = e.to_string();
        }
        Ok(w) => {
            assert!(!minutes.is_empty());
            assert_eq!(w.minutes, minutes.len() as u32);
            assert!(w.calls.len() as u64 <= MAX_CALLS);
            let total: u64 = w.functions.iter().map(|f| f.total_calls).sum();
            assert_eq!(total, w.calls.len() as u64, "every counted call is drawn");
            let mut per = vec![0u64; w.functions.len()];
            for pair in w.calls.windows(2) {
                assert!(pair[0].at_ms <= pair[1].at_ms, "calls sorted by time");
            }
            let end = u64::from(w.minutes) * 60_000;
            for c in &w.calls {
                assert!(c.at_ms < end, "{c:?} past {end} ms");
                assert!(c.duration_ms >= 1);
                per[c.function as usize] += 1;
            }
            for (f, n) in w.functions.iter().zip(&per) {
                assert_eq!(f.total_calls, *n, "{f:?}");
            }
            // A workload depends only on the files, the range, the mode and the seed.
            assert!(load() == Ok(w), "a second load differs");
        }
    }
});
