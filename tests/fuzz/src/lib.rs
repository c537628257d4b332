//! Inputs shared by the fuzz targets: host values decoded from fuzz bytes, biased towards the
//! edges (zero, one, the maximum) and towards a small id space, so that operations meet the
//! same managers and tasks again.

use std::num::NonZeroU32;
use std::time::Duration;

use arbitrary::Arbitrary;
use arcroute::{AssignConfig, GroupId, ManagerId, TaskId, MAX_POINTS};

/// Rings with more points than this are valid but not built: a fuzz input may ask for up to
/// `MAX_POINTS` (260 MiB), which would only measure the allocator.
pub const POINT_BUDGET: u128 = 1 << 12;

/// A manager id: mostly from a small pool, sometimes any `u64`.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Mid {
    Pool(u8),
    Raw(u64),
    Max,
}

impl Mid {
    pub fn id(self) -> ManagerId {
        match self {
            Mid::Pool(i) => ManagerId::new(u64::from(i % 16)),
            Mid::Raw(n) => ManagerId::new(n),
            Mid::Max => ManagerId::new(u64::MAX),
        }
    }
}

/// A weight, zero and the maximum included.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Weight {
    Small(u8),
    Raw(u32),
    Max,
}

impl Weight {
    pub fn get(self) -> u32 {
        match self {
            Weight::Small(w) => u32::from(w % 5),
            Weight::Raw(w) => w,
            Weight::Max => u32::MAX,
        }
    }
}

/// Any `u32`, with the edges likely.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Num {
    Small(u8),
    Raw(u32),
    Max,
    MaxMinus(u8),
}

impl Num {
    pub fn get(self) -> u32 {
        match self {
            Num::Small(n) => u32::from(n % 8),
            Num::Raw(n) => n,
            Num::Max => u32::MAX,
            Num::MaxMinus(n) => u32::MAX - u32::from(n),
        }
    }

    /// The value as a `NonZeroU32`, 0 read as 1.
    pub fn nonzero(self) -> NonZeroU32 {
        NonZeroU32::new(self.get()).unwrap_or(NonZeroU32::MIN)
    }
}

/// A duration, zero and `Duration::MAX` included.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Span {
    Zero,
    Secs(u16),
    Nanos(u64),
    Raw(Duration),
    Max,
}

impl Span {
    pub fn get(self) -> Duration {
        match self {
            Span::Zero => Duration::ZERO,
            Span::Secs(s) => Duration::from_secs(u64::from(s)),
            Span::Nanos(n) => Duration::from_nanos(n),
            Span::Raw(d) => d,
            Span::Max => Duration::MAX,
        }
    }
}

/// An `f32`, with NaN, the infinities, signed zeros and the bounds of `0.0..=1.0` likely.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Fraction {
    Permille(u16),
    Raw(f32),
    Nan,
    Inf,
    NegInf,
    NegZero,
    One,
    JustOverOne,
    JustUnderZero,
}

impl Fraction {
    pub fn get(self) -> f32 {
        match self {
            Fraction::Permille(p) => f32::from(p % 1200) / 1000.0,
            Fraction::Raw(f) => f,
            Fraction::Nan => f32::NAN,
            Fraction::Inf => f32::INFINITY,
            Fraction::NegInf => f32::NEG_INFINITY,
            Fraction::NegZero => -0.0,
            Fraction::One => 1.0,
            Fraction::JustOverOne => f32::from_bits(1.0f32.to_bits() + 1),
            Fraction::JustUnderZero => -f32::MIN_POSITIVE,
        }
    }
}

/// A task id: a small pool, any `u128`, or a name.
#[derive(Arbitrary, Clone, Debug)]
pub enum Task {
    Pool(u8),
    Raw(u128),
    Name(String),
}

impl Task {
    pub fn id(&self) -> TaskId {
        match self {
            Task::Pool(i) => TaskId::new(u128::from(i % 8)),
            Task::Raw(n) => TaskId::new(*n),
            Task::Name(s) => TaskId::from_name(s),
        }
    }
}

/// A group: the task's own, one of a small pool, or a name.
#[derive(Arbitrary, Clone, Debug)]
pub enum Group {
    Own,
    Pool(u8),
    Name(String),
}

impl Group {
    pub fn id(&self, task: TaskId) -> GroupId {
        match self {
            Group::Own => GroupId::from(task),
            // Overlaps the task pool on purpose: task and group ids share one key space.
            Group::Pool(i) => GroupId::new(u128::from(i % 12)),
            Group::Name(s) => GroupId::from_name(s),
        }
    }
}

/// A managers list as a host would pass it.
pub fn fleet(list: &[(Mid, Weight)]) -> Vec<(ManagerId, u32)> {
    list.iter().map(|&(m, w)| (m.id(), w.get())).collect()
}

/// What `Ring::new` must answer for `list`: `None` when the list is valid, else the reasons
/// it may be rejected for (any one of them, whichever the ring meets first).
#[derive(Debug, Default)]
pub struct Verdict {
    pub empty: bool,
    pub duplicates: Vec<ManagerId>,
    pub zero_weight: Vec<ManagerId>,
    pub too_many_points: bool,
    /// Points of the ring when the list is valid.
    pub points: u128,
}

impl Verdict {
    pub fn of(list: &[(ManagerId, u32)], vnodes: NonZeroU32) -> Self {
        let mut sorted: Vec<ManagerId> = list.iter().map(|&(m, _)| m).collect();
        sorted.sort_unstable();
        let duplicates = sorted
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        let points: u128 = list
            .iter()
            .map(|&(_, w)| u128::from(w) * u128::from(vnodes.get()))
            .sum();
        Verdict {
            empty: list.is_empty(),
            duplicates,
            zero_weight: list
                .iter()
                .filter(|&&(_, w)| w == 0)
                .map(|&(m, _)| m)
                .collect(),
            too_many_points: points > MAX_POINTS as u128,
            points,
        }
    }

    pub fn valid(&self) -> bool {
        !self.empty
            && self.duplicates.is_empty()
            && self.zero_weight.is_empty()
            && !self.too_many_points
    }

    /// A valid list too large to build within the fuzzer's memory and time.
    pub fn over_budget(&self) -> bool {
        self.valid() && self.points > POINT_BUDGET
    }

    /// Panics unless `err` is one this list may be rejected with.
    pub fn check_error(&self, err: &arcroute::Error) {
        use arcroute::Error;
        let fits = match err {
            Error::NoManagers => self.empty,
            Error::DuplicateManager { id } => self.duplicates.contains(id),
            Error::ZeroWeight { id } => self.zero_weight.contains(id),
            Error::TooManyPoints { .. } => self.too_many_points,
            _ => false,
        };
        assert!(fits, "unexpected {err:?} for {self:?}");
        assert!(!self.valid(), "valid list rejected with {err:?}");
    }
}

/// Arc-sizing settings as fuzz input (any values, valid or not).
#[derive(Arbitrary, Debug)]
pub struct Sizing {
    reserved_per_manager: Num,
    min_reserved_arc: Num,
    target_per_manager: Num,
    min_unreserved_arc: Num,
    shrink_below_percent: Num,
    shrink_delay: Span,
}

impl Sizing {
    /// The config these settings make, not validated.
    pub fn config(&self) -> AssignConfig {
        let mut config = AssignConfig::default();
        config.reserved_per_manager = self.reserved_per_manager.nonzero();
        config.min_reserved_arc = self.min_reserved_arc.nonzero();
        config.target_per_manager = self.target_per_manager.nonzero();
        config.min_unreserved_arc = self.min_unreserved_arc.nonzero();
        config.shrink_below_percent = self.shrink_below_percent.get();
        config.shrink_delay = self.shrink_delay.get();
        config
    }
}
