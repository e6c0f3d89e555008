//! The capture queue: a bounded many-producer, one-consumer hand-off that costs the
//! request path no syscall while the consumer is busy, and costs an idle host no wake-ups.
//!
//! Producers push under a short lock and read one atomic flag. The consumer takes the
//! whole queue at once; when it finds it empty it polls a few times (so a steady stream
//! of work never has to wake it), then marks itself parked and sleeps until a producer
//! sees the mark and unparks it: one wake-up per idle → busy transition, none under load.
use std::{
    mem,
    sync::{
        Mutex, OnceLock, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, Thread},
    time::Duration,
};

/// How the consumer waits for work.
#[derive(Debug, Clone, Copy)]
pub struct Idle {
    /// Sleep between two looks at an empty queue.
    pub poll: Duration,
    /// Empty looks in a row after which the consumer parks until a producer wakes it.
    pub polls_before_park: u32,
}

/// Capacity kept by the queue's buffer once a burst is over; a burst may grow it far
/// beyond this, and the memory is given back when the queue is next found short.
const KEEP_CAPACITY: usize = 1024;

pub struct Queue<T> {
    items: Mutex<Vec<T>>,
    limit: usize,
    /// Set by the consumer just before it parks; cleared by whoever wakes it.
    parked: AtomicBool,
    consumer: OnceLock<Thread>,
}

impl<T> Queue<T> {
    /// A queue that refuses pushes past `limit` waiting items.
    pub fn new(limit: usize) -> Self {
        Self {
            items: Mutex::new(Vec::with_capacity(KEEP_CAPACITY.min(limit))),
            limit,
            parked: AtomicBool::new(false),
            consumer: OnceLock::new(),
        }
    }

    /// Adds `item` unless `limit` items are already waiting (then hands it back).
    pub fn push(&self, item: T) -> Result<(), T> {
        {
            let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
            if items.len() >= self.limit {
                return Err(item);
            }
            items.push(item);
        }
        self.wake();
        Ok(())
    }

    /// Adds `item` whatever the length: for control messages that must not be lost.
    pub fn push_always(&self, item: T) {
        self.items.lock().unwrap_or_else(PoisonError::into_inner).push(item);
        self.wake();
    }

    /// Wakes the consumer if it is parked. The lock orders this against the consumer's
    /// last look: either it saw the item just pushed, or its mark is visible here.
    fn wake(&self) {
        if self.parked.load(Ordering::SeqCst)
            && self.parked.swap(false, Ordering::SeqCst)
            && let Some(consumer) = self.consumer.get()
        {
            consumer.unpark();
        }
    }

    /// Consumer side: waits until there is work and moves all of it into `batch`
    /// (which must be empty). Only one thread may consume.
    pub fn take(&self, batch: &mut Vec<T>, idle: Idle) {
        debug_assert!(batch.is_empty());
        self.consumer.get_or_init(thread::current);
        let mut empty_looks = 0u32;
        loop {
            if self.swap_into(batch) {
                return;
            }
            empty_looks += 1;
            if empty_looks < idle.polls_before_park {
                thread::sleep(idle.poll);
                continue;
            }
            self.parked.store(true, Ordering::SeqCst);
            if self.swap_into(batch) {
                self.parked.store(false, Ordering::SeqCst);
                return;
            }
            // A wake-up may be spurious, or come from a producer that found the mark
            // after we had already taken its item: both just lead to another look.
            thread::park();
            self.parked.store(false, Ordering::SeqCst);
            empty_looks = 0;
        }
    }

    /// Swaps the waiting items into `batch`; whether there were any. A buffer grown by a
    /// burst is trimmed back once the queue runs short again.
    fn swap_into(&self, batch: &mut Vec<T>) -> bool {
        if batch.capacity() > KEEP_CAPACITY {
            batch.shrink_to(KEEP_CAPACITY);
        }
        let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        if items.is_empty() {
            if items.capacity() > KEEP_CAPACITY {
                items.shrink_to(KEEP_CAPACITY);
            }
            return false;
        }
        mem::swap(batch, &mut *items);
        true
    }

    /// Whether the consumer is parked (for tests and status).
    pub fn is_parked(&self) -> bool {
        self.parked.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests;
