//! Name constructors with any bytes: `ManagerId`, `TaskId` and `GroupId` from names (lossy
//! UTF-8, so every byte string reaches them), checked against the placement spec's encoding.

#![no_main]

use arcroute::{GroupId, ManagerId, TaskId};
use libfuzzer_sys::fuzz_target;
use xxhash_rust::xxh3::{xxh3_128_with_seed, xxh3_64_with_seed};

fuzz_target!(|bytes: &[u8]| {
    let lossy = String::from_utf8_lossy(bytes);
    let mut names = vec![lossy.as_ref()];
    if let Ok(exact) = std::str::from_utf8(bytes) {
        names.push(exact);
    }
    for name in names {
        let prefixed = |domain: &[u8]| [domain, name.as_bytes()].concat();
        let m = ManagerId::from_name(name);
        assert_eq!(
            m.get(),
            xxh3_64_with_seed(&prefixed(b"arcroute:manager:"), 0)
        );
        assert_eq!(m, ManagerId::new(m.get()));
        let t = TaskId::from_name(name);
        assert_eq!(t.get(), xxh3_128_with_seed(&prefixed(b"arcroute:task:"), 0));
        assert_eq!(t, TaskId::new(t.get()));
        let g = GroupId::from_name(name);
        assert_eq!(
            g.get(),
            xxh3_128_with_seed(&prefixed(b"arcroute:group:"), 0)
        );
        assert_eq!(GroupId::from(t).get(), t.get(), "a task is its own group");
        // Debug output is total, whatever the id.
        let _ = format!("{m:?} {t:?} {g:?}");
    }
});
