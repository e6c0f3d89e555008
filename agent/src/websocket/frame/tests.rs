use super::*;

/// Encodes one frame as RFC 6455 §5.2 lays it out.
fn frame(fin: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    let masked = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(masked | n as u8),
        n @ 126..=0xffff => {
            out.push(masked | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(masked | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

fn text(data: &str) -> Event {
    Event::Message { text: true, data: Bytes::copy_from_slice(data.as_bytes()), len: data.len() as u64 }
}

/// Feeds `wire` in pieces of `step` bytes.
fn read(wire: &[u8], step: usize, limit: usize) -> (Vec<Event>, Result<(), FrameError>) {
    let mut reader = FrameReader::new(limit);
    let mut out = Vec::new();
    for piece in wire.chunks(step) {
        if let Err(e) = reader.feed(piece, &mut out) {
            return (out, Err(e));
        }
    }
    (out, Ok(()))
}

#[test]
fn whole_messages_masked_or_not_in_pieces_of_any_size() {
    let long = "x".repeat(300);
    let huge = "y".repeat(70_000);
    let mut wire = frame(true, OP_TEXT, None, b"{\"type\":\"response.created\"}");
    wire.extend(frame(true, OP_TEXT, Some([1, 2, 3, 4]), long.as_bytes()));
    wire.extend(frame(true, OP_BINARY, Some([9, 8, 7, 6]), &[0, 1, 2]));
    wire.extend(frame(true, OP_TEXT, Some([0xa, 0xb, 0xc, 0xd]), huge.as_bytes()));
    wire.extend(frame(true, OP_TEXT, None, b""));
    for step in [1, 2, 3, 7, 13, 4096, wire.len()] {
        let (events, result) = read(&wire, step, 1 << 20);
        assert_eq!(result, Ok(()));
        assert_eq!(
            events,
            vec![
                text("{\"type\":\"response.created\"}"),
                text(&long),
                Event::Message { text: false, data: Bytes::from_static(&[0, 1, 2]), len: 3 },
                text(&huge),
                text(""),
            ],
            "step {step}"
        );
    }
}

#[test]
fn fragments_join_around_control_frames() {
    let key = Some([0x37, 0xfa, 0x21, 0x3d]);
    let mut wire = frame(false, OP_TEXT, key, b"Hel");
    wire.extend(frame(true, 0x9, key, b"ping"));
    wire.extend(frame(false, OP_CONTINUATION, key, b"lo, "));
    wire.extend(frame(true, OP_CONTINUATION, key, b"world"));
    wire.extend(frame(true, OP_CLOSE, key, &[0x03, 0xe8]));
    for step in [1, 5, wire.len()] {
        let (events, result) = read(&wire, step, 1024);
        assert_eq!(result, Ok(()));
        assert_eq!(events, vec![text("Hello, world"), Event::Close], "step {step}");
    }
}

#[test]
fn a_message_over_the_limit_keeps_its_start_and_full_length() {
    let wire = frame(true, OP_TEXT, Some([5, 6, 7, 8]), b"abcdefghij");
    let (events, _) = read(&wire, 3, 4);
    assert_eq!(events, vec![Event::Message { text: true, data: Bytes::from_static(b"abcd"), len: 10 }]);
}

#[test]
fn broken_framing_is_reported_once_and_the_rest_ignored() {
    let cases: [(Vec<u8>, FrameError); 5] = [
        (frame(true, 0x3, None, b""), FrameError::Opcode(3)),
        (vec![0xc1, 0x00], FrameError::Reserved),
        (frame(true, OP_CONTINUATION, None, b"x"), FrameError::Continuation),
        (frame(false, 0x9, None, b""), FrameError::Control(0)),
        ([frame(false, OP_TEXT, None, b"a"), frame(true, OP_TEXT, None, b"b")].concat(), FrameError::Interleaved),
    ];
    for (wire, error) in cases {
        let mut reader = FrameReader::new(64);
        let mut out = Vec::new();
        assert_eq!(reader.feed(&wire, &mut out), Err(error));
        assert_eq!(reader.feed(&frame(true, OP_TEXT, None, b"later"), &mut out), Ok(()));
        assert!(out.is_empty(), "nothing is read after the framing broke: {out:?}");
    }
}
