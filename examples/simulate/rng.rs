//! The simulator's one source of randomness: PCG-64 (MCG variant, `rand_pcg::Pcg64Mcg`),
//! seeded per sub-stream, with draws and distributions from `rand` and `rand_distr`.

use rand::SeedableRng;

/// The generator: small, fast, and the same sequence on every platform and build.
pub type SimRng = rand_pcg::Pcg64Mcg;

/// A generator for sub-stream `stream` of `seed`. Within one seed every stream gets its own
/// 64-bit key (the multiplier is odd, so distinct streams never share one), which
/// `seed_from_u64` expands into the generator's 128-bit state; streams are independent for
/// any use a simulator makes of them.
pub fn stream(seed: u64, stream: u64) -> SimRng {
    SimRng::seed_from_u64(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngCore};

    #[test]
    fn same_seed_same_sequence_and_ranges_hold() {
        let (mut a, mut b) = (stream(7, 0), stream(7, 0));
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let u: f64 = a.random();
            assert!((0.0..1.0).contains(&u));
            assert!(a.random_range(0..10u64) < 10);
            let _: f64 = b.random();
            b.random_range(0..10u64);
        }
        assert_ne!(stream(7, 1).next_u64(), stream(7, 2).next_u64());
        assert_ne!(stream(7, 1).next_u64(), stream(8, 1).next_u64());
    }
}
