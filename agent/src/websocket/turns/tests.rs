use super::*;
use crate::capture::buffer::Budget;

fn turns() -> Turns {
    let budget = Budget::new(1 << 20);
    Turns::new(move || BodyBuf::new(1 << 16, budget.clone()))
}

fn text(s: &str) -> Event {
    Event::Message { text: true, data: Bytes::copy_from_slice(s.as_bytes()), len: s.len() as u64 }
}

const ASK: &str = r#"{"type":"response.create","model":"gpt-5","input":"hi"}"#;
const CREATED: &str = r#"{"type":"response.created","response":{"id":"resp_1"}}"#;
const DELTA: &str = r#"{"type":"response.output_text.delta","delta":"Hel"}"#;
const DONE: &str = r#"{"type":"response.completed","response":{"id":"resp_1","usage":{"input_tokens":3}}}"#;

#[test]
fn a_response_create_and_its_events_make_one_turn() {
    let mut t = turns();
    assert!(t.event(Direction::FromClient, &text(ASK)).is_none());
    assert!(t.event(Direction::FromServer, &text(CREATED)).is_none());
    assert!(t.event(Direction::FromServer, &text(DELTA)).is_none());
    let turn = t.event(Direction::FromServer, &text(DONE)).expect("response.completed ends the turn");
    assert!(turn.ended);
    assert!(turn.first_answer.is_some());
    assert_eq!(turn.messages, (1, 3));
    assert_eq!(turn.bytes_sent, ASK.len() as u64);
    assert_eq!(turn.bytes_received, (CREATED.len() + DELTA.len() + DONE.len()) as u64);
    assert_eq!(&turn.request.to_bytes()[..], format!("{ASK}\n").as_bytes());
    assert_eq!(
        &turn.response.to_bytes()[..],
        format!("data: {CREATED}\n\ndata: {DELTA}\n\ndata: {DONE}\n\n").as_bytes()
    );
    assert!(t.finish().is_none(), "nothing is left after a whole turn");
}

#[test]
fn context_before_the_ask_belongs_to_the_turn_and_turns_follow_each_other() {
    let mut t = turns();
    let item = r#"{"type":"conversation.item.create","item":{}}"#;
    assert!(t.event(Direction::FromServer, &text(r#"{"type":"session.created"}"#)).is_none());
    // An error before any ask ends nothing: no response was asked for.
    assert!(t.event(Direction::FromServer, &text(r#"{"type":"error"}"#)).is_none());
    assert!(t.event(Direction::FromClient, &text(item)).is_none());
    assert!(t.event(Direction::FromClient, &text(ASK)).is_none());
    let first = t.event(Direction::FromServer, &text(r#"{"type":"response.done"}"#)).expect("first turn");
    assert_eq!(first.messages, (2, 3));
    assert_eq!(&first.request.to_bytes()[..], format!("{item}\n{ASK}\n").as_bytes());

    assert!(t.event(Direction::FromClient, &text(ASK)).is_none());
    let second = t.event(Direction::FromServer, &text(r#"{"type":"response.failed"}"#)).expect("second turn");
    assert_eq!(second.messages, (1, 1));
    assert!(t.finish().is_none());
}

#[test]
fn a_connection_cut_mid_turn_leaves_an_unended_turn() {
    let mut t = turns();
    t.event(Direction::FromClient, &text(ASK));
    t.event(Direction::FromServer, &text(DELTA));
    let left = t.finish().expect("the cut-off turn");
    assert!(!left.ended);
    assert_eq!(left.messages, (1, 1));
}

#[test]
fn a_connection_with_no_message_still_gives_one_record() {
    let left = turns().finish().expect("the connection's own record");
    assert_eq!(left.messages, (0, 0));
    assert!(left.request.to_bytes().is_empty());
}

#[test]
fn binary_and_multiline_messages_are_framed_readably() {
    let mut t = turns();
    t.event(Direction::FromClient, &Event::Message { text: false, data: Bytes::from_static(&[1, 2]), len: 2 });
    t.event(Direction::FromServer, &text("{\n\"a\": 1\r\n}"));
    t.event(Direction::FromServer, &Event::Message { text: false, data: Bytes::new(), len: 9 });
    let left = t.finish().unwrap();
    assert_eq!(&left.request.to_bytes()[..], b"{\"binary_message_bytes\":2}\n");
    assert_eq!(&left.response.to_bytes()[..], b"data: {\ndata: \"a\": 1\ndata: }\n\n: binary message of 9 bytes\n\n");
}
