//! The bounded tee: keeps a body's frames while they pass to the client, up to a
//! per-record cap and a global in-flight budget. Past either, the capture is marked
//! truncated; the client still receives every byte. Large frames are kept as refcounted
//! clones (no copy); small ones are copied, so that a record waiting in the capture queue
//! holds its own bytes and not the whole network read buffer each small frame was cut from.
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

/// Frames shorter than this are copied rather than cloned. A clone of a `Bytes` slice
/// keeps its whole allocation alive: for hyper, the connection's read buffer (8 KiB and
/// up), so a 1 KiB request body held by a queued record pinned some 8 KiB. Copying that
/// much costs less than the allocation it frees.
const COPY_BELOW: usize = 8 * 1024;

/// One body's captured frames.
#[derive(Debug)]
pub struct BodyBuf {
    /// Frames kept, in order; small frames are gathered into `copied` until the next
    /// large one (or the end).
    frames: Vec<Bytes>,
    copied: BytesMut,
    seen: u64,
    kept: u64,
    cap: u64,
    truncated: bool,
    budget: Arc<Budget>,
}

impl BodyBuf {
    pub fn new(cap: u64, budget: Arc<Budget>) -> Self {
        Self { frames: Vec::new(), copied: BytesMut::new(), seen: 0, kept: 0, cap, truncated: false, budget }
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
        if data.len() < COPY_BELOW {
            self.copied.extend_from_slice(data);
        } else {
            self.seal();
            self.frames.push(data.clone());
        }
    }

    /// Moves the copied bytes gathered so far into `frames`, keeping the order.
    fn seal(&mut self) {
        if !self.copied.is_empty() {
            self.frames.push(self.copied.split().freeze());
        }
    }

    /// Every byte that passed, captured or not.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The captured bytes in one piece (copied once at most, off the request path).
    pub fn to_bytes(&self) -> Bytes {
        match (self.frames.as_slice(), self.copied.is_empty()) {
            ([], true) => Bytes::new(),
            ([], false) => Bytes::copy_from_slice(&self.copied),
            ([one], true) => one.clone(),
            (many, _) => {
                let mut out = BytesMut::with_capacity(self.kept as usize);
                for frame in many {
                    out.extend_from_slice(frame);
                }
                out.extend_from_slice(&self.copied);
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
    fn small_frames_are_copied_and_large_ones_shared_in_order() {
        let budget = Budget::new(1 << 20);
        let mut buf = BodyBuf::new(1 << 20, budget.clone());
        let network = Bytes::from(vec![b'n'; 64 * 1024]);
        let large = Bytes::from(vec![b'L'; COPY_BELOW]);
        buf.push(&network.slice(..3));
        buf.push(&Bytes::from_static(b"ab"));
        buf.push(&large);
        buf.push(&Bytes::from_static(b"z"));
        let whole = buf.to_bytes();
        let mut want = b"nnnab".to_vec();
        want.extend_from_slice(&large);
        want.push(b'z');
        assert_eq!(&whole[..], &want[..]);
        assert_eq!(buf.frames.len(), 2, "copied, shared; then copied again");
        assert_eq!(&buf.copied[..], b"z");
        assert_eq!(buf.frames[1].as_ptr(), large.as_ptr(), "the large frame was not copied");
        assert_ne!(buf.frames[0].as_ptr(), network.as_ptr(), "the small slice does not pin its buffer");
        assert_eq!(&buf.to_bytes()[..], &want[..], "asking twice gives the same bytes");
        assert_eq!(budget.held(), want.len() as u64);
    }

    #[test]
    fn one_large_frame_comes_back_without_a_copy() {
        let mut buf = BodyBuf::new(1 << 20, Budget::new(1 << 20));
        let large = Bytes::from(vec![b'L'; COPY_BELOW]);
        buf.push(&large);
        assert_eq!(buf.to_bytes().as_ptr(), large.as_ptr());
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
