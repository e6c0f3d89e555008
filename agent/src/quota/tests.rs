//! Tests of the quota engine: bucket arithmetic, scope expansion, reserve/settle/release,
//! concurrency bounds, refills (direct and queued through the database), persistence and
//! config validation. Takes nothing but temporary database files; hands on nothing.
use std::{
    fs,
    path::{Path, PathBuf},
    sync::{Arc, Barrier, Mutex},
    thread,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use super::bucket::{self, Instance};
use super::*;

/// A fixed "now" so refill is under the tests' control.
const T0: u64 = 1_700_000_000;

fn at(secs_after_t0: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + secs_after_t0)
}

fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("glassbox-quota-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir.join("agent.db")
}

fn bucket(name: &str, scope: &str, unit: Unit, capacity: f64) -> BucketConfig {
    BucketConfig {
        name: name.to_owned(),
        scope: scope.to_owned(),
        unit,
        capacity,
        refill: capacity,
        per: Period::Day,
        on_exceed: OnExceed::Reject,
        cut_streams: false,
        matcher: toml::Table::new(),
    }
}

/// A bucket that never refills, so levels only move by charges.
fn fixed(name: &str, scope: &str, unit: Unit, capacity: f64) -> BucketConfig {
    BucketConfig { refill: 0.0, ..bucket(name, scope, unit, capacity) }
}

fn user(name: &str) -> ScopeValues {
    ScopeValues { user: name.to_owned(), device: "laptop".to_owned(), ..ScopeValues::default() }
}

fn tokens(n: u64) -> Estimate {
    Estimate { tokens: n, usd: None }
}

fn usd(v: f64) -> Estimate {
    Estimate { tokens: 0, usd: Some(v) }
}

fn spent_tokens(n: u64) -> Actual {
    Actual { tokens: Some(n), usd: None }
}

fn spent_usd(v: f64) -> Actual {
    Actual { tokens: None, usd: Some(v) }
}

fn open(name: &str, buckets: Vec<BucketConfig>) -> (Quotas, PathBuf) {
    let db = temp_db(name);
    (Quotas::open(buckets, &db).unwrap(), db)
}

fn level(q: &Quotas, bucket: &str, instance: &str, now: SystemTime) -> Level {
    q.levels(now).into_iter().find(|l| l.bucket == bucket && l.instance == instance).unwrap()
}

fn assert_close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-6, "{a} != {b}");
}

/// Reserves and settles `n` of `unit` against every applicable bucket.
fn spend(q: &Quotas, applicable: &[usize], scope: &ScopeValues, n: u64, now: SystemTime) {
    let r = q.reserve(applicable, scope, tokens(n), now).unwrap();
    q.settle(r, spent_tokens(n), now);
}

fn level_rows(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM quota_levels", [], |row| row.get(0)).unwrap()
}

fn session(id: &str) -> ScopeValues {
    ScopeValues { session: Some(id.to_owned()), ..user("alice") }
}

/// The single row of `levels`, which must be a bucket's placeholder: (bucket, instance, level).
fn only_placeholder(levels: &[Level]) -> (&str, &str, f64) {
    assert_eq!(levels.len(), 1, "{levels:?}");
    let l = &levels[0];
    assert_eq!(l.reserved, 0.0);
    (l.bucket.as_str(), l.instance.as_str(), l.level)
}

fn refill_rows(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM quota_refills", [], |row| row.get(0)).unwrap()
}

// ---- bucket arithmetic ----

#[test]
fn refill_is_linear_per_period_and_capped() {
    for per in [Period::Minute, Period::Hour, Period::Day, Period::Week, Period::Month] {
        let rate = 100.0 / per.secs();
        let mut instance = Instance::full(100.0, 0.0);
        instance.level = 0.0;
        instance.refill_to(100.0, rate, per.secs() / 4.0);
        assert_close(instance.level, 25.0);
        instance.refill_to(100.0, rate, per.secs() * 3.0);
        assert_eq!(instance.level, 100.0, "{per:?} capped at capacity");
    }
    assert_eq!(Period::Month.secs(), 30.0 * 86_400.0);
    assert_eq!(Period::Week.secs(), 7.0 * 86_400.0);
}

#[test]
fn negative_levels_refill_back_through_zero() {
    let rate = 60.0 / Period::Minute.secs();
    let mut instance = Instance::stored(-30.0, 0.0, 60.0);
    instance.refill_to(60.0, rate, 20.0);
    assert_close(instance.level, -10.0);
    instance.refill_to(60.0, rate, 60.0);
    assert_close(instance.level, 30.0);
    instance.refill_to(60.0, rate, 1_000.0);
    assert_eq!(instance.level, 60.0);
}

#[test]
fn refill_ignores_a_clock_going_back_and_caps_a_lowered_capacity() {
    let mut instance = Instance::stored(10.0, 100.0, 50.0);
    instance.refill_to(50.0, 1.0, 40.0);
    assert_eq!((instance.level, instance.updated), (10.0, 100.0));
    assert_eq!(bucket::refilled(80.0, 50.0, 0.0, 10.0), 50.0);
}

#[test]
fn secs_until_refill() {
    assert_eq!(bucket::secs_until(0.0, 10.0, 60.0, 1.0), Some(10));
    assert_eq!(bucket::secs_until(-5.0, 10.0, 60.0, 0.5), Some(30));
    assert_eq!(bucket::secs_until(9.99, 10.0, 60.0, 1.0), Some(1));
    assert_eq!(bucket::secs_until(0.0, 10.0, 60.0, 0.0), None, "no refill");
    assert_eq!(bucket::secs_until(0.0, 61.0, 60.0, 1.0), None, "never fits");
}

#[test]
fn float_noise_does_not_refuse_an_exact_fit() {
    let available = 0.3 - 0.1 - 0.1;
    assert!(available < 0.1);
    assert!(!bucket::exceeds(available, 0.1, 0.3));
    assert!(bucket::exceeds(0.0, 0.0, 1.0), "an empty bucket refuses a zero estimate");
    assert!(bucket::exceeds(-1.0, 0.0, 1.0));
}

// ---- scope templates ----

#[test]
fn groups_and_tags_expand_to_their_product() {
    let (q, _db) = open("product", vec![bucket("gt", "<group>/<tag>", Unit::Tokens, 100.0)]);
    let scope = ScopeValues {
        groups: vec!["eng".into(), "ops".into(), "eng".into(), String::new()],
        tags: vec!["eu".into(), "gpu".into()],
        ..user("alice")
    };
    let r = q.reserve(&[0], &scope, tokens(1), at(0)).unwrap();
    let mut instances = r.instances();
    instances.sort();
    let want: Vec<(String, String)> =
        ["eng/eu", "eng/gpu", "ops/eu", "ops/gpu"].iter().map(|i| ("gt".to_owned(), (*i).to_owned())).collect();
    assert_eq!(instances, want, "duplicate and empty groups count once / not at all");
}

#[test]
fn missing_value_skips_the_bucket_and_shared_is_star() {
    let buckets = vec![bucket("ci", "<run>", Unit::Tokens, 10.0), bucket("team", "", Unit::Tokens, 10.0)];
    let (q, _db) = open("missing", buckets);
    let r = q.reserve(&[0], &user("alice"), tokens(1), at(0)).unwrap();
    assert!(r.is_empty(), "no CI run: the bucket does not apply");
    let r = q.reserve(&[0, 1], &user("alice"), tokens(1), at(0)).unwrap();
    assert_eq!(r.instances(), vec![("team".to_owned(), "*".to_owned())]);
    let ci = ScopeValues { run: Some("run-7".into()), ..user("alice") };
    let r = q.reserve(&[0, 1, 0], &ci, tokens(1), at(0)).unwrap();
    assert_eq!(r.instances().len(), 2, "a repeated index charges once");
}

#[test]
fn templates_mix_text_and_repeat_placeholders() {
    let cfg = bucket("b", "ci-<user>/<client>:<user>", Unit::Tokens, 1.0);
    assert_eq!(cfg.placeholders(), vec![Placeholder::User, Placeholder::Client]);
    let template = Template::parse("b", &cfg.scope).unwrap();
    let scope = ScopeValues { client: Some("claude-code".into()), ..user("alice") };
    assert_eq!(template.expand(&scope), vec!["ci-alice/claude-code:alice".to_owned()]);
    assert!(template.expand(&user("alice")).is_empty(), "no client");
    assert!(template.expand(&ScopeValues { client: Some(String::new()), ..user("alice") }).is_empty());
    assert_eq!(Template::parse("b", "").unwrap().expand(&ScopeValues::default()), vec!["*".to_owned()]);
    assert!(bucket("b", "", Unit::Tokens, 1.0).placeholders().is_empty());
}

// ---- config ----

#[derive(serde::Deserialize)]
struct File {
    quotas: Vec<BucketConfig>,
}

#[test]
fn toml_defaults_and_unknown_fields() {
    let file: File = toml::from_str(
        r#"
        [[quotas]]
        name = "daily"
        scope = "<user>"
        unit = "usd"
        capacity = 10

        [quotas.match]
        provider = "anthropic"

        [[quotas]]
        name = "ci.tokens"
        scope = "<run>"
        unit = "tokens"
        capacity = 1e6
        refill = 0
        per = "month"
        on_exceed = "alert"
        cut_streams = true
        "#,
    )
    .unwrap();
    let [daily, ci] = &file.quotas[..] else { panic!("two buckets") };
    assert_eq!(
        (daily.refill, daily.per, daily.on_exceed, daily.cut_streams),
        (10.0, Period::Day, OnExceed::Reject, false)
    );
    assert_eq!(daily.matcher.get("provider").and_then(|v| v.as_str()), Some("anthropic"));
    assert_eq!(
        (ci.unit, ci.refill, ci.per, ci.on_exceed, ci.cut_streams),
        (Unit::Tokens, 0.0, Period::Month, OnExceed::Alert, true)
    );
    assert!(ci.matcher.is_empty());
    assert!(daily.validate().is_ok() && ci.validate().is_ok());

    let typo = "[[quotas]]\nname = \"a\"\nscope = \"\"\nunit = \"usd\"\ncapacity = 1\nrefil = 2\n";
    assert!(toml::from_str::<File>(typo).is_err(), "unknown field refused");
    let no_scope = "[[quotas]]\nname = \"a\"\nunit = \"usd\"\ncapacity = 1\n";
    assert!(toml::from_str::<File>(no_scope).is_err(), "scope is required");
}

#[test]
fn validate_rejects_bad_names_scopes_and_numbers() {
    for name in ["", "a b", "a/b", "é", "a:b"] {
        let err = bucket(name, "", Unit::Usd, 1.0).validate().unwrap_err();
        assert!(matches!(err, QuotaError::InvalidName(_)), "{name:?}: {err}");
    }
    assert!(bucket("Ok_name-1.2", "", Unit::Usd, 1.0).validate().is_ok());

    let err = bucket("b", "<team>", Unit::Usd, 1.0).validate().unwrap_err();
    assert!(matches!(&err, QuotaError::UnknownPlaceholder { placeholder, .. } if placeholder == "team"));
    assert!(err.to_string().starts_with("quota bucket b: unknown placeholder <team>"), "{err}");
    for scope in ["<user", "user>", "<>", "<<user>>", "<User>"] {
        assert!(bucket("b", scope, Unit::Usd, 1.0).validate().is_err(), "{scope:?}");
    }

    for capacity in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = bucket("b", "", Unit::Usd, capacity).validate().unwrap_err();
        assert!(matches!(err, QuotaError::InvalidCapacity { .. }), "{capacity}");
    }
    for refill in [-1.0, f64::NAN] {
        let cfg = BucketConfig { refill, ..bucket("b", "", Unit::Usd, 1.0) };
        assert!(matches!(cfg.validate().unwrap_err(), QuotaError::InvalidRefill { .. }));
    }
}

#[test]
fn duplicate_names_pass_validate_but_not_open() {
    let buckets = vec![bucket("b", "", Unit::Usd, 1.0), bucket("b", "<user>", Unit::Usd, 1.0)];
    assert!(buckets.iter().all(|b| b.validate().is_ok()), "validate sees one bucket");
    let err = Quotas::open(buckets, &temp_db("duplicate")).unwrap_err();
    assert!(matches!(err, QuotaError::DuplicateBucket(name) if name == "b"));
}

// ---- reserve, settle, release ----

#[test]
fn reserve_is_all_or_nothing_and_alerts_do_not_reject() {
    let buckets = vec![
        fixed("strict", "", Unit::Usd, 1.0),
        BucketConfig { on_exceed: OnExceed::Alert, ..fixed("loose", "<user>", Unit::Usd, 0.5) },
    ];
    let (q, _db) = open("all-or-nothing", buckets);
    let first = q.reserve(&[0, 1], &user("alice"), usd(0.8), at(0)).unwrap();
    assert_eq!(first.alerts().len(), 1);
    assert_eq!((first.alerts()[0].bucket.as_str(), first.alerts()[0].instance.as_str()), ("loose", "alice"));
    assert_close(first.alerts()[0].available, 0.5);
    assert_close(level(&q, "loose", "alice", at(0)).reserved, 0.8);

    let err = q.reserve(&[0, 1], &user("alice"), usd(0.8), at(0)).unwrap_err();
    assert_eq!((err.bucket.as_str(), err.instance.as_str(), err.unit), ("strict", "*", Unit::Usd));
    assert_close(err.available, 0.2);
    assert_close(err.needed, 0.8);
    assert_eq!(err.refill_in_secs, None, "a fixed bucket does not refill");
    assert!(err.to_string().starts_with("quota strict (*) exceeded: 0.2000 usd available"), "{err}");
    assert_close(level(&q, "loose", "alice", at(0)).reserved, 0.8);

    q.release(first);
    for l in q.levels(at(0)) {
        assert_eq!(l.reserved, 0.0, "{l:?}");
    }
}

#[test]
fn alert_buckets_never_reject() {
    let alert = BucketConfig { on_exceed: OnExceed::Alert, ..fixed("watch", "<user>", Unit::Tokens, 10.0) };
    let (q, _db) = open("alert", vec![alert]);
    for i in 0..5 {
        let r = q.reserve(&[0], &user("bob"), tokens(100), at(0)).unwrap();
        assert_eq!(r.alerts().len(), 1, "round {i}");
        q.settle(r, spent_tokens(100), at(0));
    }
    assert_close(level(&q, "watch", "bob", at(0)).level, -490.0);
}

#[test]
fn settle_charges_actual_or_estimate() {
    let (q, _db) = open("settle", vec![fixed("t", "<user>", Unit::Tokens, 100.0), fixed("d", "", Unit::Usd, 5.0)]);
    let scope = user("carol");
    let both = Estimate { tokens: 10, usd: Some(1.0) };

    let r = q.reserve(&[0, 1], &scope, both, at(0)).unwrap();
    let charges = q.settle(r, Actual { tokens: Some(4), usd: Some(0.25) }, at(0));
    assert_eq!(charges.len(), 2);
    let tokens_charge = charges.iter().find(|c| c.bucket == "t").unwrap();
    assert_eq!((tokens_charge.instance.as_str(), tokens_charge.unit), ("carol", Unit::Tokens));
    assert_eq!((tokens_charge.reserved, tokens_charge.charged, tokens_charge.level_after), (10.0, 4.0, 96.0));

    let r = q.reserve(&[0, 1], &scope, both, at(0)).unwrap();
    let charges = q.settle(r, Actual { tokens: Some(30), usd: Some(1.5) }, at(0));
    assert_eq!(charges[0].level_after, 66.0, "above the estimate");
    assert_close(charges[1].level_after, 3.25);

    let r = q.reserve(&[0, 1], &scope, both, at(0)).unwrap();
    let charges = q.settle(r, Actual::default(), at(0));
    assert_eq!((charges[0].charged, charges[0].level_after), (10.0, 56.0), "unknown: the estimate");
    assert_close(charges[1].charged, 1.0);

    let t = level(&q, "t", "carol", at(0));
    assert_eq!((t.level, t.reserved), (56.0, 0.0));
}

#[test]
fn release_and_drop_return_the_reservation() {
    let (q, _db) = open("release", vec![fixed("t", "", Unit::Tokens, 100.0)]);
    let r = q.reserve(&[0], &user("a"), tokens(60), at(0)).unwrap();
    assert_eq!(level(&q, "t", "*", at(0)).reserved, 60.0);
    assert!(q.reserve(&[0], &user("a"), tokens(60), at(0)).is_err());
    q.release(r);
    let l = level(&q, "t", "*", at(0));
    assert_eq!((l.level, l.reserved), (100.0, 0.0));

    {
        let _cancelled = q.reserve(&[0], &user("a"), tokens(60), at(0)).unwrap();
    }
    assert_eq!(level(&q, "t", "*", at(0)).reserved, 0.0, "a dropped reservation is released");
    assert!(q.reserve(&[0], &user("a"), tokens(100), at(0)).is_ok());
}

#[test]
fn an_empty_usd_bucket_refuses_an_unpriced_request() {
    let (q, _db) = open("unpriced", vec![fixed("d", "", Unit::Usd, 1.0)]);
    let r = q.reserve(&[0], &user("a"), tokens(5), at(0)).unwrap();
    assert_eq!(q.settle(r, Actual::default(), at(0))[0].charged, 0.0);
    let r = q.reserve(&[0], &user("a"), usd(1.0), at(0)).unwrap();
    q.settle(r, spent_usd(1.0), at(0));
    assert!(q.reserve(&[0], &user("a"), tokens(5), at(0)).is_err());
}

#[test]
fn exceeded_says_when_refill_makes_room() {
    let per_second = BucketConfig { refill: 60.0, per: Period::Minute, ..bucket("m", "<user>", Unit::Tokens, 60.0) };
    let (q, _db) = open("refill-in", vec![per_second]);
    spend(&q, &[0], &user("a"), 60, at(0));

    let err = q.reserve(&[0], &user("a"), tokens(10), at(0)).unwrap_err();
    assert_eq!((err.available, err.needed, err.refill_in_secs), (0.0, 10.0, Some(10)));
    let err = q.reserve(&[0], &user("a"), tokens(10), at(4)).unwrap_err();
    assert_eq!(err.refill_in_secs, Some(6));
    let err = q.reserve(&[0], &user("a"), tokens(100), at(4)).unwrap_err();
    assert_eq!(err.refill_in_secs, None, "above capacity: never");
    let held = q.reserve(&[0], &user("a"), tokens(10), at(10)).unwrap();
    let err = q.reserve(&[0], &user("a"), tokens(5), at(10)).unwrap_err();
    assert_eq!(err.refill_in_secs, Some(5), "outstanding reservations count");
    drop(held);
}

#[test]
fn would_exceed_names_only_cut_streams_buckets() {
    let cut = BucketConfig { cut_streams: true, ..fixed("cut", "", Unit::Tokens, 100.0) };
    let (q, _db) = open("cut", vec![cut, fixed("keep", "", Unit::Tokens, 10.0)]);
    let r = q.reserve(&[0, 1], &user("a"), tokens(10), at(0)).unwrap();
    assert_eq!(q.would_exceed(&r, spent_tokens(100), at(0)), None, "own reservation counts as spendable");
    assert_eq!(q.would_exceed(&r, spent_tokens(101), at(0)).as_deref(), Some("cut"));
    assert_eq!(q.would_exceed(&r, Actual::default(), at(0)), None);

    let other = q.reserve(&[0], &user("b"), tokens(30), at(0)).unwrap();
    assert_eq!(q.would_exceed(&r, spent_tokens(80), at(0)).as_deref(), Some("cut"), "others' reservations are taken");
    q.release(other);
    assert_eq!(q.would_exceed(&r, spent_tokens(80), at(0)), None);
}

// ---- concurrency ----

#[test]
fn concurrent_reservations_admit_exactly_what_fits() {
    const THREADS: usize = 20;
    let (q, _db) = open("concurrent-fit", vec![fixed("d", "", Unit::Usd, 10.0)]);
    let q = Arc::new(q);
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (q, barrier) = (Arc::clone(&q), Arc::clone(&barrier));
            thread::spawn(move || {
                let reserved = q.reserve(&[0], &user("a"), usd(3.0), at(0));
                barrier.wait();
                reserved.ok().map(|r| q.settle(r, spent_usd(2.5), at(0))[0].charged)
            })
        })
        .collect();
    let charged: Vec<f64> = handles.into_iter().filter_map(|h| h.join().unwrap()).collect();
    assert_eq!(charged.len(), (10.0_f64 / 3.0).floor() as usize);
    let total: f64 = charged.iter().sum();
    assert!(total <= 10.0);
    assert_close(level(&q, "d", "*", at(0)).level, 10.0 - total);
}

#[test]
fn concurrent_settles_at_or_below_estimate_never_overdraw() {
    const THREADS: usize = 20;
    let (q, _db) = open("concurrent-loop", vec![fixed("t", "", Unit::Tokens, 1_000.0)]);
    let q = Arc::new(q);
    let charged = Arc::new(Mutex::new(0.0));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let (q, charged) = (Arc::clone(&q), Arc::clone(&charged));
            thread::spawn(move || {
                while let Ok(r) = q.reserve(&[0], &user("a"), tokens(7), at(0)) {
                    thread::yield_now();
                    let charge = q.settle(r, spent_tokens(4 + (i as u64 % 4)), at(0));
                    *charged.lock().unwrap() += charge[0].charged;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let total = *charged.lock().unwrap();
    assert!(total <= 1_000.0, "{total}");
    let l = level(&q, "t", "*", at(0));
    assert_eq!((l.level, l.reserved), (1_000.0 - total, 0.0));
    assert!(l.level < 7.0, "stopped only when no room was left");
}

#[test]
fn overshoot_is_bounded_by_outstanding_reservations() {
    const THREADS: usize = 20;
    let (q, _db) = open("overshoot", vec![fixed("t", "", Unit::Tokens, 100.0)]);
    let q = Arc::new(q);
    let reserved = Arc::new(Barrier::new(THREADS + 1));
    let go = Arc::new(Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (q, reserved, go) = (Arc::clone(&q), Arc::clone(&reserved), Arc::clone(&go));
            thread::spawn(move || {
                let r = q.reserve(&[0], &user("a"), tokens(10), at(0));
                reserved.wait();
                go.wait();
                r.ok().map(|r| q.settle(r, spent_tokens(20), at(0)))
            })
        })
        .collect();
    reserved.wait();
    let outstanding = level(&q, "t", "*", at(0)).reserved;
    go.wait();
    let admitted = handles.into_iter().filter_map(|h| h.join().unwrap()).count();
    assert_eq!((admitted, outstanding), (10, 100.0));
    let overshoot = -level(&q, "t", "*", at(0)).level;
    assert!(overshoot > 0.0 && overshoot <= outstanding, "{overshoot} > {outstanding}");
}

#[test]
fn overshoot_under_contention_stays_within_the_reservations_in_flight() {
    const THREADS: u64 = 20;
    const ESTIMATE: u64 = 10;
    let (q, _db) = open("overshoot-loop", vec![fixed("t", "", Unit::Tokens, 500.0)]);
    let q = Arc::new(q);
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                while let Ok(r) = q.reserve(&[0], &user("a"), tokens(ESTIMATE), at(0)) {
                    thread::yield_now();
                    q.settle(r, spent_tokens(2 * ESTIMATE), at(0));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let overshoot = -level(&q, "t", "*", at(0)).level;
    // At most one reservation per thread was in flight when the last one was admitted,
    // and each overshot by its estimate.
    assert!(overshoot <= (THREADS * ESTIMATE) as f64, "{overshoot}");
}

// ---- refills ----

#[test]
fn refill_through_the_api() {
    let (q, _db) = open("refill-api", vec![fixed("b", "<user>", Unit::Tokens, 100.0)]);
    spend(&q, &[0], &user("alice"), 90, at(0));
    let r = q.reserve(&[0], &user("bob"), tokens(100), at(0)).unwrap();
    q.settle(r, spent_tokens(120), at(0));

    assert_eq!(q.refill("b", Some("alice"), Some(5.0), at(0)).unwrap(), 1);
    assert_eq!(level(&q, "b", "alice", at(0)).level, 15.0);
    assert_eq!(level(&q, "b", "bob", at(0)).level, -20.0);
    assert_eq!(q.refill("b", Some("alice"), Some(1_000.0), at(0)).unwrap(), 1);
    assert_eq!(level(&q, "b", "alice", at(0)).level, 100.0, "capped");
    assert_eq!(q.refill("b", None, None, at(0)).unwrap(), 2);
    assert_eq!(level(&q, "b", "bob", at(0)).level, 100.0, "none: to capacity, even from below zero");
    assert_eq!(q.refill("b", Some("nobody"), None, at(0)).unwrap(), 0);

    assert!(matches!(q.refill("nope", None, None, at(0)), Err(QuotaError::UnknownBucket(n)) if n == "nope"));
    assert!(matches!(q.refill("b", None, Some(-1.0), at(0)), Err(QuotaError::InvalidAmount(_))));
}

#[test]
fn refill_requests_are_applied_by_sync() {
    let (q, db) = open("refill-queue", vec![fixed("b", "<user>", Unit::Tokens, 100.0)]);
    spend(&q, &[0], &user("alice"), 80, at(0));
    spend(&q, &[0], &user("bob"), 80, at(0));

    let one = request_refill(&db, "b", Some("alice"), Some(30.0)).unwrap();
    let all = request_refill(&db, "b", None, None).unwrap();
    let unknown = request_refill(&db, "gone", None, None).unwrap();
    assert!(!refill_applied(&db, one).unwrap());
    assert_eq!(refill_rows(&db), 3);
    assert_eq!(level(&q, "b", "alice", at(0)).level, 20.0, "not before sync");

    q.sync(at(0)).unwrap();
    assert_eq!(refill_rows(&db), 0);
    for id in [one, all, unknown] {
        assert!(refill_applied(&db, id).unwrap());
    }
    // Both back at capacity with nothing reserved: forgotten, as if never seen.
    assert_eq!(only_placeholder(&q.levels(at(0))), ("b", "<user>", 100.0));
    assert_eq!(q.refill("b", Some("alice"), None, at(0)).unwrap(), 0);
    let stored = stored_levels(&db, q.buckets(), at(0)).unwrap();
    assert_eq!(only_placeholder(&stored), ("b", "<user>", 100.0));

    assert!(matches!(request_refill(&db, "b", None, Some(f64::NAN)), Err(QuotaError::InvalidAmount(_))));
}

#[test]
fn refill_requested_while_no_agent_runs_is_applied_at_open() {
    let buckets = vec![fixed("b", "", Unit::Usd, 2.0)];
    let (q, db) = open("refill-offline", buckets.clone());
    let r = q.reserve(&[0], &user("a"), usd(1.5), at(0)).unwrap();
    q.settle(r, spent_usd(1.5), at(0));
    q.sync(at(0)).unwrap();
    drop(q);

    let id = request_refill(&db, "b", Some("*"), Some(1.0)).unwrap();
    let q = Quotas::open(buckets, &db).unwrap();
    assert!(refill_applied(&db, id).unwrap());
    assert_close(level(&q, "b", "*", at(0)).level, 1.5);
}

// ---- persistence ----

#[test]
fn levels_survive_a_restart() {
    // 1 token a second, and a deficit the real clock's years past T0 (which `open` syncs,
    // and so prunes, at) do not refill.
    let per_second = BucketConfig { refill: 86_400.0, ..bucket("t", "<user>", Unit::Tokens, 1e12) };
    let buckets = vec![per_second, fixed("team", "", Unit::Usd, 50.0)];
    let (q, db) = open("restart", buckets.clone());
    spend(&q, &[0], &user("alice"), 10_000_000_000, at(0));
    let r = q.reserve(&[1], &user("alice"), usd(20.0), at(0)).unwrap();
    q.settle(r, spent_usd(12.5), at(0));
    let _in_flight = q.reserve(&[0], &user("alice"), tokens(500), at(0)).unwrap();
    q.sync(at(0)).unwrap();
    drop(q);

    let q = Quotas::open(buckets.clone(), &db).unwrap();
    let alice = level(&q, "t", "alice", at(0));
    assert_eq!((alice.level, alice.reserved), (990_000_000_000.0, 0.0), "reservations die with the process");
    assert_close(level(&q, "t", "alice", at(100)).level, 990_000_000_100.0);
    assert_close(level(&q, "team", "*", at(100)).level, 37.5);
    drop(q);

    // A bucket no longer configured is ignored, and kept.
    let q = Quotas::open(vec![fixed("other", "", Unit::Usd, 1.0)], &db).unwrap();
    assert_eq!(q.levels(at(0)).len(), 1);
    q.sync(at(0)).unwrap();
    drop(q);
    let q = Quotas::open(buckets, &db).unwrap();
    assert_close(level(&q, "team", "*", at(0)).level, 37.5);
}

#[test]
fn stored_levels_match_levels() {
    let buckets = vec![
        BucketConfig { per: Period::Hour, ..bucket("t", "<user>/<client>", Unit::Tokens, 3_600.0) },
        fixed("team", "", Unit::Usd, 50.0),
        bucket("unused", "<session>", Unit::Tokens, 5.0),
    ];
    let (q, db) = open("stored", buckets.clone());
    let scope = ScopeValues { client: Some("cli".into()), ..user("alice") };
    spend(&q, &[0, 1], &scope, 1_000, at(0));
    spend(&q, &[0], &ScopeValues { client: Some("ide".into()), ..user("bob") }, 3_000, at(5));
    q.sync(at(5)).unwrap();

    let now = at(60);
    let live = q.levels(now);
    let stored = stored_levels(&db, &buckets, now).unwrap();
    assert_eq!(live.len(), 4);
    assert_eq!(live.len(), stored.len());
    for (l, s) in live.iter().zip(&stored) {
        assert_eq!(
            (&l.bucket, &l.instance, l.unit, l.per, l.on_exceed),
            (&s.bucket, &s.instance, s.unit, s.per, s.on_exceed)
        );
        assert_eq!((l.capacity, l.refill, s.reserved), (s.capacity, s.refill, 0.0));
        assert_close(l.level, s.level);
    }
    assert_close(level(&q, "t", "alice/cli", now).level, 3_600.0 - 1_000.0 + 60.0);
    let unseen = level(&q, "unused", "<session>", now);
    assert_eq!(unseen.level, 5.0);

    let fresh = stored_levels(&temp_db("stored-none").with_file_name("absent.db"), &buckets, now).unwrap();
    assert_eq!(fresh.iter().map(|l| l.instance.as_str()).collect::<Vec<_>>(), ["<user>/<client>", "*", "<session>"]);
    assert!(fresh.iter().all(|l| l.level == l.capacity));
}

#[test]
fn levels_serialize_lowercase() {
    let (q, _db) = open("json", vec![fixed("team", "", Unit::Usd, 5.0)]);
    let json = serde_json::to_value(q.levels(at(0))).unwrap();
    assert_eq!(json[0]["unit"], "usd");
    assert_eq!(json[0]["per"], "day");
    assert_eq!(json[0]["on_exceed"], "reject");
    assert_eq!(json[0]["instance"], "*");
}

#[test]
fn the_engine_is_shareable_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Quotas>();
    send_sync::<Reservation>();
}

// ---- pruning ----

#[test]
fn instances_back_at_capacity_are_forgotten() {
    let buckets = vec![bucket("s", "<session>", Unit::Tokens, 100.0)];
    let (q, db) = open("prune", buckets.clone());
    spend(&q, &[0], &session("a"), 40, at(0));
    q.sync(at(0)).unwrap();
    assert_eq!(level_rows(&db), 1);

    // A day later "a" has refilled past capacity; "b", charged since, has not.
    spend(&q, &[0], &session("b"), 40, at(86_400));
    q.sync(at(86_400)).unwrap();
    let live = q.levels(at(86_400));
    assert_eq!(live.iter().map(|l| (l.instance.as_str(), l.level)).collect::<Vec<_>>(), [("b", 60.0)]);
    let stored = stored_levels(&db, &buckets, at(86_400)).unwrap();
    assert_eq!(stored.iter().map(|l| (l.instance.as_str(), l.level)).collect::<Vec<_>>(), [("b", 60.0)]);
    assert_eq!(level_rows(&db), 1);

    q.sync(at(2 * 86_400)).unwrap();
    assert_eq!(only_placeholder(&q.levels(at(2 * 86_400))), ("s", "<session>", 100.0));
    assert_eq!(level_rows(&db), 0);
    drop(q);

    let q = Quotas::open(buckets.clone(), &db).unwrap();
    assert_eq!(only_placeholder(&q.levels(at(2 * 86_400))), ("s", "<session>", 100.0));
    let stored = stored_levels(&db, &buckets, at(2 * 86_400)).unwrap();
    assert_eq!(only_placeholder(&stored), ("s", "<session>", 100.0));
}

#[test]
fn instances_below_capacity_or_reserved_are_kept() {
    let buckets = vec![fixed("f", "<session>", Unit::Tokens, 100.0), bucket("r", "<session>", Unit::Tokens, 100.0)];
    let (q, db) = open("prune-kept", buckets.clone());
    spend(&q, &[0], &session("a"), 10, at(0));
    let held = q.reserve(&[1], &session("b"), tokens(10), at(0)).unwrap();

    // Long after: "a" never refills; "b" is full but has a reservation outstanding.
    let later = at(30 * 86_400);
    q.sync(later).unwrap();
    let b = level(&q, "r", "b", later);
    assert_eq!((b.level, b.reserved), (100.0, 10.0));
    assert_eq!(level(&q, "f", "a", later).level, 90.0);
    assert_eq!(level_rows(&db), 2);

    // Settled at its estimate after the sync: charged to the instance kept.
    assert_eq!(q.settle(held, spent_tokens(10), later)[0].level_after, 90.0);
    q.sync(later).unwrap();
    assert_eq!(level(&q, "r", "b", later).level, 90.0);

    // Released instead, a reservation leaves the instance full, to be forgotten.
    let held = q.reserve(&[1], &session("c"), tokens(10), later).unwrap();
    q.sync(later).unwrap();
    assert_eq!(level(&q, "r", "c", later).reserved, 10.0);
    q.release(held);
    q.sync(later).unwrap();
    assert!(q.levels(later).iter().all(|l| l.instance != "c"));
    drop(q);

    let q = Quotas::open(buckets.clone(), &db).unwrap();
    assert_eq!(level(&q, "f", "a", later).level, 90.0, "a refill-0 bucket below capacity persists");
    assert_eq!(stored_levels(&db, &buckets, later).unwrap().len(), 2);
}

#[test]
fn a_forgotten_instance_starts_full_again() {
    let per_minute = BucketConfig { per: Period::Minute, ..bucket("s", "<session>", Unit::Tokens, 100.0) };
    let (q, db) = open("prune-reuse", vec![per_minute]);
    spend(&q, &[0], &session("a"), 100, at(0));
    assert!(q.reserve(&[0], &session("a"), tokens(1), at(0)).is_err());
    q.sync(at(0)).unwrap();
    assert_eq!(level_rows(&db), 1);

    q.sync(at(60)).unwrap();
    assert_eq!(level_rows(&db), 0);
    assert_eq!(only_placeholder(&q.levels(at(60))).1, "<session>");

    let r = q.reserve(&[0], &session("a"), tokens(100), at(61)).unwrap();
    assert_eq!(level(&q, "s", "a", at(61)).reserved, 100.0, "recreated full");
    let charges = q.settle(r, spent_tokens(30), at(61));
    assert_eq!(charges[0].level_after, 70.0);
    q.sync(at(61)).unwrap();
    assert_eq!(level_rows(&db), 1);
    assert_eq!(level(&q, "s", "a", at(61)).level, 70.0);
}
