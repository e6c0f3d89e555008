//! Token-bucket arithmetic, with no locks, clocks or I/O.
//!
//! Takes one bucket instance's state (level, last refill time, outstanding reservations),
//! the bucket's capacity and refill rate per second, and times as Unix seconds; hands on
//! the refilled level, what is available to a new request, whether a request fits, and
//! how long until it would. Levels may be negative (a settled cost above its
//! reservation); refill is continuous and linear, capped at capacity.

/// Below this fraction of the capacity, differences are float noise: three 0.1 USD
/// requests fit a 0.3 USD budget.
const SLACK: f64 = 1e-12;

/// One bucket instance: the spendable level and the reservations held against it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Instance {
    /// Amount left, as of `updated`; below zero after an overshoot.
    pub level: f64,
    /// Unix seconds the level was last refilled to.
    pub updated: f64,
    /// Sum of the outstanding reservations (in memory only).
    pub reserved: f64,
    /// Number of outstanding reservations; at zero `reserved` is reset to exactly 0.
    pub holds: u32,
}

impl Instance {
    /// A fresh instance, full at `now`.
    pub fn full(capacity: f64, now: f64) -> Self {
        Instance { level: capacity, updated: now, reserved: 0.0, holds: 0 }
    }

    /// An instance as persisted: `level` as of `updated`, nothing reserved.
    pub fn stored(level: f64, updated: f64, capacity: f64) -> Self {
        let level = if level.is_finite() { level } else { capacity };
        let updated = if updated.is_finite() { updated } else { 0.0 };
        Instance { level, updated, reserved: 0.0, holds: 0 }
    }

    /// Refills the level to `now` at `rate` per second; a clock that went back adds nothing.
    pub fn refill_to(&mut self, capacity: f64, rate: f64, now: f64) {
        self.level = refilled(self.level, capacity, rate, now - self.updated);
        self.updated = self.updated.max(now);
    }

    /// This instance refilled to `now`, leaving `self` as it is.
    pub fn at(&self, capacity: f64, rate: f64, now: f64) -> Self {
        let mut copy = self.clone();
        copy.refill_to(capacity, rate, now);
        copy
    }

    /// What a new request may spend: the level less the outstanding reservations.
    pub fn available(&self) -> f64 {
        self.level - self.reserved
    }

    /// Holds `amount` against the level.
    pub fn reserve(&mut self, amount: f64) {
        self.reserved += amount;
        self.holds += 1;
    }

    /// Drops a reservation of `amount`.
    pub fn unreserve(&mut self, amount: f64) {
        self.holds = self.holds.saturating_sub(1);
        self.reserved = if self.holds == 0 { 0.0 } else { (self.reserved - amount).max(0.0) };
    }

    /// Adds `amount` to the level (after refilling it), capped at capacity.
    pub fn top_up(&mut self, capacity: f64, amount: f64) {
        self.level = (self.level + amount).min(capacity);
    }
}

/// `level` after `elapsed` seconds of refill at `rate` per second, capped at `capacity`
/// (a level above a since-lowered capacity is brought down to it).
pub(super) fn refilled(level: f64, capacity: f64, rate: f64, elapsed: f64) -> f64 {
    let gained = rate * elapsed.max(0.0);
    (level + gained).min(capacity)
}

/// Whether a request needing `needed` does not fit `available` in a bucket of
/// `capacity`. An empty (or overdrawn) bucket refuses even a zero estimate.
pub(super) fn exceeds(available: f64, needed: f64, capacity: f64) -> bool {
    let slack = capacity * SLACK;
    available + slack < needed || available < slack
}

/// Whether spending `spent` from `available` would take the bucket below zero.
pub(super) fn overdraws(available: f64, spent: f64, capacity: f64) -> bool {
    available - spent < -(capacity * SLACK)
}

/// Whole seconds until refill at `rate` per second lifts `available` to `needed` (at
/// least 1); `None` if the bucket does not refill or can never hold `needed`.
pub(super) fn secs_until(available: f64, needed: f64, capacity: f64, rate: f64) -> Option<u64> {
    if rate <= 0.0 || needed > capacity {
        return None;
    }
    let deficit = (needed - available).max(0.0);
    // A microsecond of slack so float noise does not round 10 s up to 11.
    let secs = (deficit / rate - 1e-6).ceil();
    Some((secs as u64).max(1))
}
