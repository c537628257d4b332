//! The RAII guard for one in-flight call.

use std::fmt;
use std::sync::atomic::Ordering::Release;
use std::sync::Arc;

use crate::live::{Live, RESERVED_TRACKED, TRACKED};

/// One call in flight. Dropping it ends the call's concurrency count.
///
/// Keep it alive for exactly as long as the call runs on its manager. It is `Send`: it may be
/// dropped on another thread, and it is dropped during a panic unwind like any value, so a
/// failed call never leaks a count. It holds no snapshot and no lock.
#[must_use = "dropping the permit at once ends the call's in-flight count"]
pub struct Permit {
    live: Arc<Live>,
    /// Whether the call holds a reserved count (1) or an unreserved one (0): a `u8`, not a
    /// `bool`, so that an `Option` of a permit (or of a route) tells `None` by the null
    /// pointer of `live` rather than by a spare value of this byte, which routes copy less.
    reserved: u8,
    /// The tracked slot this call is counted on, or [`UNTRACKED`]: of the unreserved arc for
    /// an unreserved permit; of this frontend's range of the reserved arc, from the range's
    /// first slot, for a reserved one.
    slot: u16,
}

/// A permit counted on no slot.
const UNTRACKED: u16 = u16::MAX;

impl Permit {
    /// Wraps a count the caller has already added to `live`.
    #[inline]
    pub(crate) fn adopt(live: Arc<Live>, reserved: bool) -> Self {
        Self {
            live,
            reserved: u8::from(reserved),
            slot: UNTRACKED,
        }
    }

    /// Whether this permit counts its call on a slot of the unreserved arc.
    pub(crate) fn is_tracked(&self) -> bool {
        self.slot != UNTRACKED
    }

    /// Counts this unreserved call on `slot` of the unreserved arc (if it is one that live state
    /// tracks), taking it off the slot it was counted on before.
    #[inline]
    pub(crate) fn track(&mut self, slot: u32) {
        debug_assert!(!self.is_reserved());
        self.untrack();
        if slot < TRACKED {
            self.live.enter_slot(slot);
            self.slot = slot as u16;
        }
    }

    /// Counts this reserved call on slot `rel` of this frontend's range of the reserved arc
    /// if that slot holds fewer than `room` of its calls, taking it off the slot it was
    /// counted on before either way; returns whether it is counted on `rel` now.
    pub(crate) fn try_track_reserved(&mut self, rel: u32, room: u32) -> bool {
        debug_assert!(self.is_reserved());
        self.untrack();
        let entered = rel < RESERVED_TRACKED
            && self
                .live
                .reserved_if_made()
                .is_some_and(|r| r.try_enter_slot(rel, room));
        if entered {
            self.slot = rel as u16;
        }
        entered
    }

    /// Takes over the count of this reserved call that the caller added on slot `rel` of its
    /// range (`None`: counted on no slot). The permit is fresh: counted nowhere before.
    #[inline]
    pub(crate) fn counted_on(&mut self, rel: Option<u32>) {
        debug_assert!(self.is_reserved() && !self.is_tracked());
        if let Some(rel) = rel {
            self.slot = rel as u16;
        }
    }

    /// Takes this call off the slot it is counted on, if any.
    #[inline]
    pub(crate) fn untrack(&mut self) {
        if self.is_tracked() {
            let slot = u32::from(self.slot);
            if self.is_reserved() {
                if let Some(r) = self.live.reserved_if_made() {
                    r.exit_slot(slot);
                }
            } else {
                self.live.exit_slot(slot);
            }
            self.slot = UNTRACKED;
        }
    }

    pub(crate) fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// Whether this permit counts against the task's reserved arc.
    pub fn is_reserved(&self) -> bool {
        self.reserved != 0
    }
}

impl Drop for Permit {
    #[inline]
    fn drop(&mut self) {
        self.untrack();
        if self.is_reserved() {
            // Made before the count that this permit adopted.
            if let Some(r) = self.live.reserved_if_made() {
                r.count.fetch_sub(1, Release);
            }
        } else {
            self.live.exit_unreserved();
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("reserved", &self.is_reserved())
            .finish_non_exhaustive()
    }
}
