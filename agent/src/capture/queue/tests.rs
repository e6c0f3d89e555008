use std::{
    sync::{Arc, mpsc},
    thread,
    time::{Duration, Instant},
};

use super::{Idle, Queue};

const FAST: Idle = Idle { poll: Duration::from_millis(1), polls_before_park: 3 };

/// Runs a consumer that sends every item it takes to the returned receiver.
fn consume(queue: &Arc<Queue<u32>>) -> mpsc::Receiver<u32> {
    let (tx, rx) = mpsc::channel();
    let queue = queue.clone();
    thread::spawn(move || {
        let mut batch = Vec::new();
        loop {
            queue.take(&mut batch, FAST);
            for item in batch.drain(..) {
                if tx.send(item).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn refuses_past_the_limit_but_always_takes_control_messages() {
    let queue = Queue::new(2);
    assert_eq!(queue.push(1), Ok(()));
    assert_eq!(queue.push(2), Ok(()));
    assert_eq!(queue.push(3), Err(3));
    queue.push_always(4);
    let mut batch = Vec::new();
    queue.take(&mut batch, FAST);
    assert_eq!(batch, [1, 2, 4]);
}

#[test]
fn an_idle_consumer_parks_and_one_push_wakes_it() {
    let queue = Arc::new(Queue::new(16));
    let rx = consume(&queue);
    wait_until("the consumer parks", || queue.is_parked());
    // Parked means asleep with no timeout: nothing arrives, nothing changes.
    thread::sleep(Duration::from_millis(50));
    assert!(queue.is_parked());
    queue.push(7).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(7), "the push woke the consumer");
    wait_until("the consumer parks again", || queue.is_parked());
    queue.push_always(8);
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(8), "a control message wakes it too");
}

#[test]
fn no_item_is_stranded_while_the_consumer_goes_to_sleep() {
    let queue = Arc::new(Queue::new(1 << 20));
    let rx = consume(&queue);
    let producers: Vec<_> = (0..4u32)
        .map(|p| {
            let queue = queue.clone();
            thread::spawn(move || {
                for i in 0..2_000u32 {
                    queue.push(p * 1_000_000 + i).unwrap();
                    // Gaps of all sizes, so pushes land on every step of the way to parking.
                    if i % 97 == 0 {
                        thread::sleep(Duration::from_micros(u64::from(i % 5) * 700));
                    }
                }
            })
        })
        .collect();
    for producer in producers {
        producer.join().unwrap();
    }
    let mut got = 0;
    while got < 8_000 {
        rx.recv_timeout(Duration::from_secs(5)).expect("every item is delivered");
        got += 1;
    }
}

#[test]
fn a_burst_gives_its_buffer_back() {
    let queue = Queue::new(1 << 20);
    for i in 0..100_000 {
        queue.push(i).unwrap();
    }
    let mut batch = Vec::new();
    queue.take(&mut batch, FAST);
    assert_eq!(batch.len(), 100_000);
    batch.clear();
    queue.push(1).unwrap();
    queue.take(&mut batch, FAST);
    assert_eq!(batch, [1]);
    assert!(batch.capacity() <= super::KEEP_CAPACITY, "the burst-sized buffer was trimmed");
    batch.clear();
    queue.push(2).unwrap();
    queue.take(&mut batch, FAST);
    assert!(queue.items.lock().unwrap().capacity() <= super::KEEP_CAPACITY);
}
