//! The health mask: which managers of one ring are down, a bit each.

use std::fmt;

use crate::id::ManagerId;
use crate::ring::Ring;
use crate::Error;

/// Which managers of one [`Ring`] are down, as a bit per manager.
///
/// Changing health never rebuilds points: a router republishes the same ring with a new mask,
/// O(N/64).
#[derive(Clone, PartialEq, Eq)]
pub struct HealthMask {
    /// Bit set = manager down, by ring index.
    down: Box<[u64]>,
    /// Managers of the ring the mask was made for.
    managers: u32,
    healthy: u32,
}

impl fmt::Debug for HealthMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthMask")
            .field("managers", &self.len())
            .field("healthy", &self.healthy)
            .finish()
    }
}

impl HealthMask {
    /// Every manager of `ring` up.
    pub fn all_up(ring: &Ring) -> Self {
        Self {
            down: vec![0; ring.len().div_ceil(64)].into_boxed_slice(),
            managers: ring.len() as u32,
            healthy: ring.len() as u32,
        }
    }

    /// Number of managers up.
    #[inline]
    pub fn healthy_count(&self) -> u32 {
        self.healthy
    }

    /// Whether `id` is on `ring` and up.
    pub fn is_healthy(&self, ring: &Ring, id: ManagerId) -> bool {
        ring.index_of(id).is_some_and(|i| self.is_up(i))
    }

    /// Marks `id` up or down. Returns whether anything changed.
    ///
    /// # Errors
    /// [`Error::UnknownManager`] if `id` is not on `ring`; the mask is then unchanged.
    pub fn set(&mut self, ring: &Ring, id: ManagerId, healthy: bool) -> Result<bool, Error> {
        let index = ring.index_of(id).ok_or(Error::UnknownManager { id })?;
        Ok(self.set_index(index, healthy))
    }

    pub(crate) fn set_index(&mut self, index: u32, healthy: bool) -> bool {
        if index >= self.managers {
            return false;
        }
        let (word, bit) = ((index / 64) as usize, 1u64 << (index % 64));
        let Some(w) = self.down.get_mut(word) else {
            return false;
        };
        let was_up = *w & bit == 0;
        if was_up == healthy {
            return false;
        }
        if healthy {
            *w &= !bit;
            self.healthy += 1;
        } else {
            *w |= bit;
            self.healthy -= 1;
        }
        true
    }

    #[inline]
    pub(crate) fn is_up(&self, index: u32) -> bool {
        self.down
            .get((index / 64) as usize)
            .is_none_or(|w| w & (1 << (index % 64)) == 0)
    }

    fn len(&self) -> u32 {
        self.managers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::tests::ring;

    #[test]
    fn health_mask_skips_and_counts() {
        let r = ring(5);
        let mut mask = HealthMask::all_up(&r);
        let first = r.first(42);
        assert!(mask.set(&r, first, false).unwrap());
        assert!(!mask.set(&r, first, false).unwrap());
        assert_eq!(mask.healthy_count(), 4);
        let arc: Vec<_> = r.arc_with(42, 5, &mask).collect();
        assert_eq!(arc.len(), 4);
        assert!(!arc.contains(&first));
        let missing = ManagerId::new(99);
        assert_eq!(
            mask.set(&r, missing, false),
            Err(Error::UnknownManager { id: missing })
        );
    }

    #[test]
    fn a_mask_from_another_ring_never_underflows() {
        let mut mask = HealthMask::all_up(&ring(1));
        let other = ring(3);
        for i in 0..3 {
            let _ = mask.set(&other, ManagerId::new(i), false);
        }
        assert!(mask.healthy_count() <= 1);
        assert!(other.arc_with(0, 3, &mask).count() <= 3);
    }
}
