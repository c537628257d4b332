//! Admission: which arc one call goes to, decided from plain counts.
//!
//! The rule is pure; the router reads the counts from its live state, asks [`decide`], and
//! keeps or undoes its count by the answer.

use crate::route::RouteKind;

/// The decision for one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Within the reservation as counted.
    Reserved,
    /// Past the count, but the host reports reserved environments idle (the sibling rule).
    Sibling,
    /// A reserved task beyond its reservation.
    Spillover,
    /// A task without a reservation.
    Unreserved,
}

impl Admission {
    /// The kind of route this decision makes.
    pub(crate) fn kind(self) -> RouteKind {
        match self {
            Self::Reserved | Self::Sibling => RouteKind::Reserved,
            Self::Spillover => RouteKind::Spillover,
            Self::Unreserved => RouteKind::Unreserved,
        }
    }
}

/// What the rule reads of a reserved task's call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Claim {
    /// This router's Reserved calls of the task in flight, not counting this one.
    pub(crate) held: u32,
    /// The reservation's environments that are ready.
    pub(crate) ready: u32,
    /// This router's share of `ready` among the frontends.
    pub(crate) share: u32,
    /// The other frontends' Reserved calls in flight, from a fresh global report.
    pub(crate) others: Option<u32>,
    /// The sibling rule's threshold of busy reserved environments, in permille.
    pub(crate) threshold: u32,
}

/// Decides one call: `claim` is `None` for a task without a reservation. `busy` gives the
/// host-reported busy fraction in permille, if fresh; it is asked only when the count alone
/// does not admit the call, so a caller may read the clock there. O(1).
#[inline]
pub(crate) fn decide(claim: Option<Claim>, busy: impl FnOnce() -> Option<u32>) -> Admission {
    let Some(claim) = claim else {
        return Admission::Unreserved;
    };
    let counted = match claim.others {
        Some(others) => others.saturating_add(claim.held) < claim.ready,
        None => claim.held < claim.share,
    };
    if counted {
        return Admission::Reserved;
    }
    // Bounded by the environments that exist.
    if claim.held < claim.ready && busy().is_some_and(|busy| busy < claim.threshold) {
        Admission::Sibling
    } else {
        Admission::Spillover
    }
}

/// A fraction in `0.0..=1.0` as permille, rounded.
pub(crate) fn permille(fraction: f32) -> u32 {
    (fraction * 1000.0).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(held: u32, ready: u32, share: u32, others: Option<u32>) -> Option<Claim> {
        Some(Claim {
            held,
            ready,
            share,
            others,
            threshold: 800,
        })
    }

    #[test]
    fn no_reservation_is_unreserved() {
        assert_eq!(
            decide(None, || unreachable!("no busy read")),
            Admission::Unreserved
        );
    }

    #[test]
    fn local_counting_admits_up_to_the_share() {
        let idle = || unreachable!("counted: no busy read");
        assert_eq!(decide(claim(1, 4, 2, None), idle), Admission::Reserved);
        assert_eq!(decide(claim(2, 4, 2, None), || None), Admission::Spillover);
    }

    #[test]
    fn global_counting_adds_the_other_frontends() {
        assert_eq!(
            decide(claim(1, 4, 0, Some(2)), || None),
            Admission::Reserved
        );
        assert_eq!(
            decide(claim(1, 4, 4, Some(3)), || None),
            Admission::Spillover
        );
        assert_eq!(
            decide(claim(0, 4, 4, Some(u32::MAX)), || None),
            Admission::Spillover,
            "saturates"
        );
    }

    #[test]
    fn the_sibling_rule_needs_a_fresh_low_fraction_and_stays_within_ready() {
        assert_eq!(
            decide(claim(2, 4, 2, None), || Some(799)),
            Admission::Sibling
        );
        assert_eq!(
            decide(claim(2, 4, 2, None), || Some(800)),
            Admission::Spillover
        );
        assert_eq!(
            decide(claim(4, 4, 2, None), || unreachable!("past ready")),
            Admission::Spillover
        );
        assert_eq!(Admission::Sibling.kind(), RouteKind::Reserved);
    }

    #[test]
    fn permille_rounds() {
        assert_eq!(permille(0.8), 800);
        assert_eq!(permille(0.0), 0);
        assert_eq!(permille(1.0), 1000);
    }
}
