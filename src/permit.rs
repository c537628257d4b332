//! The RAII guard for one in-flight call.

use std::fmt;
use std::sync::atomic::Ordering::Release;
use std::sync::Arc;

use crate::live::Live;

/// One call in flight. Dropping it ends the call's concurrency count.
///
/// Keep it alive for exactly as long as the call runs on its manager. It is `Send`: it may be
/// dropped on another thread, and it is dropped during a panic unwind like any value, so a
/// failed call never leaks a count. It holds no snapshot and no lock.
#[must_use = "dropping the permit at once ends the call's in-flight count"]
pub struct Permit {
    live: Arc<Live>,
    reserved: bool,
}

impl Permit {
    /// Wraps a count the caller has already added to `live`.
    pub(crate) fn adopt(live: Arc<Live>, reserved: bool) -> Self {
        Self { live, reserved }
    }

    pub(crate) fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// Whether this permit counts against the task's reserved arc.
    pub fn is_reserved(&self) -> bool {
        self.reserved
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.reserved {
            self.live.reserved.fetch_sub(1, Release);
        } else {
            self.live.exit_unreserved();
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("reserved", &self.reserved)
            .finish_non_exhaustive()
    }
}
