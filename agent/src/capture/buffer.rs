//! The bounded tee: keeps a copy of a body's frames as they pass to the client, up to a
//! per-record cap and a global in-flight budget. Past either, the capture is marked
//! truncated; the client still receives every byte. A copy, because a frame is a slice
//! of its connection's read buffer: kept by reference, a 1.4 KB body held a buffer of
//! about 5.6 KB alive (measured with hyper's HTTP/1.1 server), unseen by the budget.
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use bytes::{Bytes, BytesMut};

/// Bytes held by all unfinished captures together, against a limit.
#[derive(Debug)]
pub struct Budget {
    held: AtomicU64,
    limit: u64,
    /// Captures that were truncated, for status.
    pub truncated: AtomicU64,
}

impl Budget {
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self { held: AtomicU64::new(0), limit, truncated: AtomicU64::new(0) })
    }

    fn reserve(&self, n: u64) -> bool {
        let mut held = self.held.load(Ordering::Relaxed);
        loop {
            if held + n > self.limit {
                return false;
            }
            match self.held.compare_exchange_weak(held, held + n, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => held = now,
            }
        }
    }

    fn release(&self, n: u64) {
        self.held.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }
}

/// One body's captured frames.
#[derive(Debug)]
pub struct BodyBuf {
    frames: Vec<Bytes>,
    seen: u64,
    kept: u64,
    cap: u64,
    truncated: bool,
    budget: Arc<Budget>,
}

impl BodyBuf {
    pub fn new(cap: u64, budget: Arc<Budget>) -> Self {
        Self { frames: Vec::new(), seen: 0, kept: 0, cap, truncated: false, budget }
    }

    /// Records a frame that is passing through.
    pub fn push(&mut self, data: &Bytes) {
        let n = data.len() as u64;
        self.seen += n;
        if self.truncated || n == 0 {
            return;
        }
        if self.kept + n > self.cap || !self.budget.reserve(n) {
            self.truncated = true;
            self.budget.truncated.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.kept += n;
        self.frames.push(Bytes::copy_from_slice(data));
    }

    /// Every byte that passed, captured or not.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The captured bytes in one piece (copied once, off the request path).
    pub fn to_bytes(&self) -> Bytes {
        match self.frames.as_slice() {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => {
                let mut out = BytesMut::with_capacity(self.kept as usize);
                for frame in many {
                    out.extend_from_slice(frame);
                }
                out.freeze()
            }
        }
    }
}

impl Drop for BodyBuf {
    fn drop(&mut self) {
        self.budget.release(self.kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_frames_up_to_the_cap_and_counts_everything() {
        let budget = Budget::new(1 << 20);
        let mut buf = BodyBuf::new(8, budget.clone());
        buf.push(&Bytes::from_static(b"abcd"));
        buf.push(&Bytes::from_static(b"efgh"));
        assert!(!buf.truncated());
        buf.push(&Bytes::from_static(b"i"));
        assert!(buf.truncated());
        buf.push(&Bytes::from_static(b"jk"));
        assert_eq!(&buf.to_bytes()[..], b"abcdefgh");
        assert_eq!(buf.seen(), 11);
        assert_eq!(budget.held(), 8);
        drop(buf);
        assert_eq!(budget.held(), 0, "the budget is returned when the capture ends");
    }

    #[test]
    fn a_kept_frame_does_not_hold_its_source_buffer() {
        let budget = Budget::new(1 << 20);
        let mut buf = BodyBuf::new(1 << 20, budget);
        let mut read_buffer = Bytes::from(vec![7u8; 8192]);
        let frame = read_buffer.split_to(1400);
        buf.push(&frame);
        drop(frame);
        assert!(read_buffer.is_unique(), "the capture must not share the connection's buffer");
        assert_eq!(&buf.to_bytes()[..], &[7u8; 1400][..]);
    }

    #[test]
    fn the_global_budget_truncates_across_captures() {
        let budget = Budget::new(10);
        let mut a = BodyBuf::new(100, budget.clone());
        let mut b = BodyBuf::new(100, budget.clone());
        a.push(&Bytes::from_static(b"0123456"));
        b.push(&Bytes::from_static(b"0123456"));
        assert!(!a.truncated());
        assert!(b.truncated());
        assert_eq!(budget.truncated.load(Ordering::Relaxed), 1);
    }
}
