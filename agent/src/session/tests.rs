use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::*;

const GAP: Duration = Duration::from_secs(30 * 60);
const UUID: &str = "57a121ec-f78c-48c3-a745-e3036a3ecc33";

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(HeaderName::from_static(name), HeaderValue::from_str(value).unwrap());
    }
    map
}

/// One request to resolve, built up like prose.
struct Req {
    headers: HeaderMap,
    body: Option<Value>,
    response_id: Option<&'static str>,
    root: &'static str,
    user: &'static str,
    at: SystemTime,
}

fn req() -> Req {
    Req { headers: HeaderMap::new(), body: None, response_id: None, root: "100:5000", user: "alice", at: t(0) }
}

impl Req {
    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.insert(HeaderName::from_static(name), HeaderValue::from_str(value).unwrap());
        self
    }
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    fn responds(mut self, id: &'static str) -> Self {
        self.response_id = Some(id);
        self
    }
    fn root(mut self, root: &'static str) -> Self {
        self.root = root;
        self
    }
    fn user(mut self, user: &'static str) -> Self {
        self.user = user;
        self
    }
    fn at(mut self, at: SystemTime) -> Self {
        self.at = at;
        self
    }
    fn resolve(&self, tracker: &mut SessionTracker) -> SessionRef {
        tracker.resolve(&self.headers, self.body.as_ref(), self.response_id, self.root, self.user, self.at)
    }
}

fn tracker() -> SessionTracker {
    SessionTracker::new(GAP)
}

fn one(r: &Req) -> SessionRef {
    r.resolve(&mut tracker())
}

fn is(rule: &str, id: &str) -> SessionRef {
    SessionRef { id: id.to_owned(), rule: rule.to_owned() }
}

#[test]
fn claude_code_session_header() {
    assert_eq!(
        one(&req().header("x-claude-code-session-id", UUID)),
        is("claude_code_header", &format!("claude:{UUID}"))
    );
}

#[test]
fn codex_headers_new_and_old() {
    let cases = [
        ("session-id", "codex_session_header"),
        ("thread-id", "codex_thread_header"),
        ("session_id", "codex_legacy_header"),
        ("conversation_id", "codex_legacy_header"),
    ];
    for (header, rule) in cases {
        assert_eq!(one(&req().header(header, "0199-abc")), is(rule, "codex:0199-abc"), "{header}");
    }
}

#[test]
fn anthropic_metadata_user_id_legacy_form() {
    let with_account = format!("user_{}_account_{UUID}_session_{UUID}", "ab".repeat(32));
    let without_account = format!("user_{}_account__session_{UUID}", "cd".repeat(32));
    for user_id in [with_account, without_account] {
        let r = req().body(json!({"model": "claude", "metadata": {"user_id": user_id}}));
        assert_eq!(one(&r), is("anthropic_metadata_user_id", &format!("claude:{UUID}")), "{user_id}");
    }
}

#[test]
fn anthropic_metadata_user_id_json_form() {
    // Claude Code ≥ 2.1.78 sends a JSON object serialised into the string.
    let user_id = json!({"device_id": "ab".repeat(32), "account_uuid": "", "session_id": UUID}).to_string();
    let r = req().body(json!({"metadata": {"user_id": user_id}}));
    assert_eq!(one(&r), is("anthropic_metadata_user_id", &format!("claude:{UUID}")));
}

#[test]
fn claude_header_and_metadata_share_one_id_space() {
    let mut tracker = tracker();
    let by_header = req().header("x-claude-code-session-id", UUID).resolve(&mut tracker);
    let legacy = format!("user_{}_account__session_{UUID}", "ab".repeat(32));
    let by_body = req().body(json!({"metadata": {"user_id": legacy}})).resolve(&mut tracker);
    assert_eq!(by_header.id, by_body.id);
}

#[test]
fn a_plain_metadata_user_id_names_a_person_not_a_session() {
    for user_id in
        [json!("customer-42"), json!("user_42"), json!("{\"device_id\":\"x\"}"), json!("{not json"), json!(7)]
    {
        let r = req().body(json!({"metadata": {"user_id": user_id}}));
        assert_eq!(one(&r).rule, "process_tree", "{user_id}");
    }
}

#[test]
fn opencode_and_generic_session_headers() {
    assert_eq!(one(&req().header("x-opencode-session", "ses_1")), is("opencode_header", "opencode:ses_1"));
    assert_eq!(one(&req().header("x-session-id", "s-1")), is("session_header", "session:s-1"));
}

#[test]
fn prompt_cache_key_is_scoped_by_user() {
    let body = json!({"model": "gpt-5", "prompt_cache_key": "my-app-v1"});
    assert_eq!(one(&req().body(body.clone())), is("prompt_cache_key", "cache:alice:my-app-v1"));
    assert_eq!(one(&req().body(body).user("bob")).id, "cache:bob:my-app-v1");
}

#[test]
fn unusable_ids_fall_through_to_the_next_rule() {
    let long = "x".repeat(300);
    for bad in ["", "   ", long.as_str()] {
        let r = req().header("x-claude-code-session-id", bad).header("session-id", "good");
        assert_eq!(one(&r), is("codex_session_header", "codex:good"), "{bad:?}");
    }
    let r = req().body(json!({"prompt_cache_key": "a\u{0}b", "metadata": {"user_id": ""}}));
    assert_eq!(one(&r).rule, "process_tree");
    let r = req().body(json!({"prompt_cache_key": 12}));
    assert_eq!(one(&r).rule, "process_tree");
}

#[test]
fn rules_apply_in_the_documented_order() {
    let legacy = format!("user_{}_account__session_m-1", "ab".repeat(32));
    let mut signals: Vec<(&'static str, &str)> = vec![
        ("x-claude-code-session-id", "claude_code_header"),
        ("session-id", "codex_session_header"),
        ("thread-id", "codex_thread_header"),
        ("session_id", "codex_legacy_header"),
        ("conversation_id", "codex_legacy_header"),
        ("metadata", "anthropic_metadata_user_id"),
        ("x-opencode-session", "opencode_header"),
        ("x-session-id", "session_header"),
        ("prompt_cache_key", "prompt_cache_key"),
        ("previous_response_id", "previous_response_id"),
        ("", "process_tree"),
    ];
    let mut tracker = tracker();
    req().responds("resp_1").resolve(&mut tracker);
    // Take away the winning signal each time: the next one in the order must decide.
    while !signals.is_empty() {
        let mut r = req();
        let mut body = json!({});
        for (signal, _) in &signals {
            match *signal {
                "metadata" => body["metadata"] = json!({"user_id": legacy}),
                "prompt_cache_key" => body["prompt_cache_key"] = json!("k"),
                "previous_response_id" => body["previous_response_id"] = json!("resp_1"),
                "" => {}
                header => r = r.header(header, "h"),
            }
        }
        let (signal, rule) = signals.remove(0);
        assert_eq!(r.body(body).resolve(&mut tracker).rule, rule, "with {signal:?} first");
    }
}

#[test]
fn previous_response_id_follows_the_chain_across_processes() {
    let mut tracker = tracker();
    let first = req().responds("resp_1").resolve(&mut tracker);
    assert_eq!(first.rule, "process_tree");
    // The next turn comes from another process tree, hours later: the chain still holds.
    let later = t(5 * 3600);
    let second = req()
        .root("200:9")
        .at(later)
        .body(json!({"previous_response_id": "resp_1"}))
        .responds("resp_2")
        .resolve(&mut tracker);
    assert_eq!(second, is("previous_response_id", &first.id));
    let third = req().root("300:9").at(later).body(json!({"previous_response_id": "resp_2"})).resolve(&mut tracker);
    assert_eq!(third.id, first.id);
}

#[test]
fn a_chain_joins_a_session_decided_by_any_rule() {
    let mut tracker = tracker();
    let codex = req().header("session-id", "c-1").responds("resp_9").resolve(&mut tracker);
    let next = req().root("9:9").body(json!({"previous_response_id": "resp_9"})).resolve(&mut tracker);
    assert_eq!(next, is("previous_response_id", &codex.id));
}

#[test]
fn an_unknown_previous_response_falls_back_to_the_tree() {
    let r = req().body(json!({"previous_response_id": "resp_never_seen"}));
    assert_eq!(one(&r).rule, "process_tree");
}

#[test]
fn process_tree_within_the_gap_is_one_session() {
    let mut tracker = tracker();
    let first = req().resolve(&mut tracker);
    assert_eq!(first, is("process_tree", &format!("tree:100:5000:alice:{}", 1_700_000_000_000_u64)));
    // Each request extends the session: 25 min, then 50 min after the first.
    assert_eq!(req().at(t(25 * 60)).resolve(&mut tracker).id, first.id);
    assert_eq!(req().at(t(50 * 60)).resolve(&mut tracker).id, first.id);
    // Exactly the gap is still within it.
    assert_eq!(req().at(t(80 * 60)).resolve(&mut tracker).id, first.id);
}

#[test]
fn process_tree_after_the_gap_is_a_new_session() {
    let mut tracker = tracker();
    let first = req().resolve(&mut tracker);
    let after = req().at(t(30 * 60 + 1)).resolve(&mut tracker);
    assert_ne!(after.id, first.id);
    assert_eq!(after.id, format!("tree:100:5000:alice:{}", (1_700_000_000_u64 + 30 * 60 + 1) * 1000));
}

#[test]
fn a_request_that_finished_late_joins_the_current_session() {
    // Exchanges reach the tracker as they finish: a long stream started first may come last.
    let mut tracker = tracker();
    let current = req().at(t(600)).resolve(&mut tracker);
    assert_eq!(req().at(t(0)).resolve(&mut tracker).id, current.id);
    // It does not pull the session's last activity back.
    assert_eq!(req().at(t(600 + 30 * 60)).resolve(&mut tracker).id, current.id);
}

#[test]
fn trees_are_separated_by_root_and_by_user() {
    let mut tracker = tracker();
    let alice = req().resolve(&mut tracker);
    let bob = req().user("bob").resolve(&mut tracker);
    let other_tree = req().root("101:7000").resolve(&mut tracker);
    assert_ne!(alice.id, bob.id);
    assert_ne!(alice.id, other_tree.id);
    assert_ne!(bob.id, other_tree.id);
}

#[test]
fn client_sessions_do_not_disturb_the_tree_session() {
    let mut tracker = tracker();
    let tree = req().resolve(&mut tracker);
    req().at(t(60)).header("x-claude-code-session-id", UUID).resolve(&mut tracker);
    assert_eq!(req().at(t(120)).resolve(&mut tracker).id, tree.id);
}

#[test]
fn idle_trees_are_forgotten() {
    let mut tracker = tracker();
    for (i, root) in ["1:1", "2:2", "3:3"].into_iter().enumerate() {
        req().root(root).at(t(i as u64)).resolve(&mut tracker);
    }
    assert_eq!(tracker.remembered().0, 3);
    req().root("4:4").at(t(2 + 30 * 60)).resolve(&mut tracker);
    assert_eq!(tracker.remembered().0, 2, "1:1 and 2:2 were idle past the gap; 3:3 was not");
}

#[test]
fn a_full_tree_map_forgets_the_least_recently_used() {
    let mut tracker = SessionTracker::with_capacity(GAP, 2, 10);
    let a = req().root("1:1").at(t(0)).resolve(&mut tracker);
    let b = req().root("2:2").at(t(1)).resolve(&mut tracker);
    assert_eq!(req().root("1:1").at(t(2)).resolve(&mut tracker).id, a.id); // "1:1" is now the most recent
    req().root("3:3").at(t(3)).resolve(&mut tracker); // evicts "2:2"
    assert_eq!(tracker.remembered().0, 2);
    assert_eq!(req().root("1:1").at(t(4)).resolve(&mut tracker).id, a.id);
    let b_again = req().root("2:2").at(t(5)).resolve(&mut tracker);
    assert_ne!(b_again.id, b.id, "a forgotten tree starts a new session");
}

#[test]
fn a_full_response_map_forgets_the_least_recently_used() {
    let mut tracker = SessionTracker::with_capacity(GAP, 10, 2);
    let s1 = req().header("x-session-id", "one").responds("r1").resolve(&mut tracker);
    req().header("x-session-id", "two").responds("r2").resolve(&mut tracker);
    let chained = |prev: &str| req().root("9:9").body(json!({ "previous_response_id": prev }));
    assert_eq!(chained("r1").resolve(&mut tracker).id, s1.id); // touches r1
    req().header("x-session-id", "three").responds("r3").resolve(&mut tracker); // evicts r2
    assert_eq!(tracker.remembered().1, 2);
    assert_eq!(chained("r1").resolve(&mut tracker).id, s1.id);
    assert_eq!(chained("r2").resolve(&mut tracker).rule, "process_tree");
}

#[test]
fn lru_keeps_recency_order() {
    let mut lru = lru::Lru::new(3);
    for k in ["a", "b", "c"] {
        lru.insert(k.to_owned(), k.len());
    }
    lru.get_mut("a");
    lru.insert("b".to_owned(), 9); // re-insert refreshes too
    lru.insert("d".to_owned(), 1); // evicts "c", the least recent
    assert_eq!(lru.len(), 3);
    assert!(lru.get_mut("c").is_none());
    assert_eq!(lru.pop_oldest(), Some(("a".to_owned(), 1)));
    assert_eq!(lru.pop_oldest(), Some(("b".to_owned(), 9)));
    assert_eq!(lru.oldest(), Some(&1));
}

#[test]
fn every_rule_has_its_documented_name() {
    let headers = headers(&[("x-session-id", "z")]);
    let mut tracker = tracker();
    let got = tracker.resolve(&headers, None, None, "r", "u", t(0));
    assert_eq!(got.rule, Rule::SessionHeader.as_str());
    let back: SessionRef = serde_json::from_value(serde_json::to_value(&got).unwrap()).unwrap();
    assert_eq!(back, got);
}
