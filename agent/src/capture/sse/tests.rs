use proptest::prelude::*;

use super::*;

fn ev(event: Option<&str>, data: &str, id: Option<&str>) -> SseEvent {
    SseEvent { event: event.map(str::to_owned), data: data.to_owned(), id: id.map(str::to_owned) }
}

/// Feeds `chunks` in turn; returns every event and how the stream ended.
fn run<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<SseEvent>, SseEnd) {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(parser.feed(chunk));
    }
    (events, parser.finish())
}

fn whole(bytes: &[u8]) -> (Vec<SseEvent>, SseEnd) {
    run([bytes])
}

#[test]
fn every_line_ending_is_understood() {
    let want = vec![ev(None, "a", None), ev(None, "b", None), ev(None, "c", None)];
    let (events, end) = whole(b"data: a\r\n\r\ndata: b\n\ndata: c\r\r");
    assert_eq!(events, want);
    assert_eq!(end, SseEnd { complete: true, pending_bytes: 0 });
}

#[test]
fn a_crlf_split_across_chunks_counts_once() {
    // Were the \n taken for a second line end, "data: b" would be dispatched early.
    let (events, end) = run([&b"data: a\r"[..], b"\ndata: b\r", b"\n\r", b"\n"]);
    assert_eq!(events, vec![ev(None, "a\nb", None)]);
    assert!(end.complete);
}

#[test]
fn comments_are_skipped_and_do_not_make_a_stream_incomplete() {
    let (events, end) = whole(b": ping\n\n:another\ndata: x\n\n: trailing keep-alive\n");
    assert_eq!(events, vec![ev(None, "x", None)]);
    assert_eq!(end, SseEnd { complete: true, pending_bytes: 0 });
}

#[test]
fn multi_line_data_is_joined_with_newlines() {
    let (events, _) = whole(b"data: {\"a\":\ndata:  1}\ndata\ndata:\n\n");
    // One leading space is dropped, the second kept; `data` alone and `data:` add "".
    assert_eq!(events, vec![ev(None, "{\"a\":\n 1}\n\n", None)]);
}

#[test]
fn fields_event_id_retry_and_unknown() {
    let stream = b"event: message_start\nid: 7\nretry: 1000\nfoo: bar\ndata: one\n\n\
        data: two\n\nevent: x\n\nid\ndata: three\n\nid: a\0b\ndata: four\n\n";
    let (events, end) = whole(stream);
    assert_eq!(
        events,
        vec![
            ev(Some("message_start"), "one", Some("7")),
            // The last event id persists across events (WHATWG lastEventId).
            ev(None, "two", Some("7")),
            // `event: x` without data dispatched nothing and was reset; `id` alone clears.
            ev(None, "three", None),
            // An id containing NUL is ignored.
            ev(None, "four", None),
        ]
    );
    assert!(end.complete);
}

#[test]
fn a_field_without_colon_and_a_colon_in_the_value() {
    let (events, _) = whole(b"event\ndata: a: b\n\n");
    assert_eq!(events, vec![ev(None, "a: b", None)]);
}

#[test]
fn a_leading_byte_order_mark_is_dropped_once() {
    let (events, _) = run([&b"\xEF\xBB"[..], b"\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\n"]);
    // The second BOM is not at the start of the stream: it makes an unknown field name.
    assert_eq!(events, vec![ev(None, "a", None)]);
}

#[test]
fn invalid_utf8_is_replaced_and_split_characters_survive() {
    let (events, _) = run([&b"data: \xC3"[..], b"\xA9 \xFF\n\n"]);
    assert_eq!(events, vec![ev(None, "\u{e9} \u{fffd}", None)]);
}

#[test]
fn a_missing_final_newline_leaves_the_last_event_undispatched() {
    let (events, end) = whole(b"data: a\n\ndata: b");
    assert_eq!(events, vec![ev(None, "a", None)]);
    assert_eq!(end, SseEnd { complete: false, pending_bytes: 7 });
}

#[test]
fn a_final_event_missing_only_its_blank_line_is_discarded_and_reported() {
    let (events, end) = whole(b"data: a\n\nevent: e\ndata: b\n");
    assert_eq!(events, vec![ev(None, "a", None)]);
    assert_eq!(end, SseEnd { complete: false, pending_bytes: 17 });
}

#[test]
fn a_stream_cut_mid_event_keeps_everything_before_the_cut() {
    let full = b"event: a\ndata: 1\n\nevent: b\ndata: 2\n\nevent: c\ndata: 3\n\n";
    let (events, end) = whole(&full[..42]);
    assert_eq!(events, vec![ev(Some("a"), "1", None), ev(Some("b"), "2", None)]);
    assert_eq!(end, SseEnd { complete: false, pending_bytes: 6 });
}

#[test]
fn finish_resets_the_parser() {
    let mut parser = SseParser::new();
    assert!(parser.feed(b"data: half").is_empty());
    assert!(!parser.finish().complete);
    assert_eq!(parser.feed(b"data: new\n\n"), vec![ev(None, "new", None)]);
    assert_eq!(parser.finish(), SseEnd { complete: true, pending_bytes: 0 });
}

#[test]
fn an_empty_stream_is_complete() {
    assert_eq!(whole(b""), (vec![], SseEnd { complete: true, pending_bytes: 0 }));
}

/// Streams built from the pieces that matter: every field kind, every line ending,
/// comments, multi-byte and invalid UTF-8, a BOM.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop::sample::select(vec![
        &b"data: x"[..],
        b"data:y",
        b"data",
        b"event: e",
        b"id: 1",
        b"id",
        b"retry: 10",
        b": c",
        b"other",
        b"\n",
        b"\r",
        b"\r\n",
        b"\n\n",
        "é".as_bytes(),
        b"\xFF",
        b"\xEF\xBB\xBF",
    ]);
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// `bytes` split at the given cut points (taken modulo its length, sorted).
fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().chain([bytes.len()]) {
        chunks.push(bytes[start..cut].to_vec());
        start = cut;
    }
    chunks
}

proptest! {
    #[test]
    fn any_split_gives_the_same_events(bytes in stream(), cuts in prop::collection::vec(any::<usize>(), 0..12)) {
        let chunks = split(&bytes, &cuts);
        prop_assert_eq!(run(chunks.iter().map(Vec::as_slice)), whole(&bytes));
    }

    #[test]
    fn byte_by_byte_matches_whole(bytes in stream()) {
        prop_assert_eq!(run(bytes.chunks(1)), whole(&bytes));
    }

    #[test]
    fn arbitrary_bytes_split_anywhere_match_and_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let chunks = split(&bytes, &cuts);
        prop_assert_eq!(run(chunks.iter().map(Vec::as_slice)), whole(&bytes));
    }
}
