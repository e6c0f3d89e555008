use super::*;

fn usage(input: u64, cache_read: Option<u64>, cache_creation: Option<u64>, output: Option<u64>) -> Usage {
    Usage {
        input_tokens: Some(input),
        output_tokens: output,
        cache_read_tokens: cache_read,
        cache_creation_tokens: cache_creation,
        reasoning_tokens: None,
    }
}

#[track_caller]
fn assert_usd(got: Option<f64>, want: f64) {
    let got = got.unwrap_or_else(|| panic!("expected a cost of {want}, got none"));
    assert!((got - want).abs() < 1e-12, "cost {got} != {want}");
}

#[test]
fn the_embedded_table_is_valid_dated_and_sourced() {
    let pricing = Pricing::embedded();
    assert_eq!(pricing.as_of(), Some("2025-11"));
    for provider in ["openai", "anthropic", "gemini", "mistral", "deepseek", "xai", "groq"] {
        assert!(pricing.source(provider).is_some_and(|s| !s.is_empty()), "{provider} has a source");
    }
}

#[test]
fn openai_with_cached_input() {
    // 86 uncached × $2.50 + 1920 cached × $1.25 + 300 out × $10, per million.
    let cost = Pricing::embedded().cost("openai", "gpt-4o", &usage(2006, Some(1920), None, Some(300)));
    assert_usd(cost, (86.0 * 2.50 + 1920.0 * 1.25 + 300.0 * 10.0) / 1e6);
    assert_usd(cost, 0.005615);
}

#[test]
fn anthropic_dated_snapshot_with_cache_reads_and_writes() {
    // input 83 980 = 12 uncached + 81 920 read + 2 048 written.
    let usage = usage(83_980, Some(81_920), Some(2_048), Some(89));
    let cost = Pricing::embedded().cost("anthropic", "claude-sonnet-4-5-20250929", &usage);
    assert_usd(cost, (12.0 * 3.0 + 81_920.0 * 0.30 + 2_048.0 * 3.75 + 89.0 * 15.0) / 1e6);
    assert_usd(cost, 0.033627);
}

#[test]
fn long_context_rates_apply_above_the_threshold() {
    let pricing = Pricing::embedded();
    let long = pricing.cost("anthropic", "claude-sonnet-4-5", &usage(250_000, None, None, Some(1_000)));
    assert_usd(long, (250_000.0 * 6.0 + 1_000.0 * 22.50) / 1e6);
    let at_threshold = pricing.cost("anthropic", "claude-sonnet-4-5", &usage(200_000, None, None, Some(1_000)));
    assert_usd(at_threshold, (200_000.0 * 3.0 + 1_000.0 * 15.0) / 1e6);
}

#[test]
fn gemini_with_cached_content_and_thoughts_in_output() {
    let cost = Pricing::embedded().cost("gemini", "models/gemini-2.5-flash", &usage(5312, Some(4096), None, Some(248)));
    assert_usd(cost, (1216.0 * 0.30 + 4096.0 * 0.03 + 248.0 * 2.50) / 1e6);
}

#[test]
fn embeddings_have_no_output_price() {
    let pricing = Pricing::embedded();
    assert_usd(pricing.cost("openai", "text-embedding-3-small", &usage(8, None, None, None)), 8.0 * 0.02 / 1e6);
    assert_eq!(pricing.cost("openai", "text-embedding-3-small", &usage(8, None, None, Some(5))), None);
}

#[test]
fn unknown_model_provider_or_usage_has_no_cost() {
    let pricing = Pricing::embedded();
    let known = usage(100, None, None, Some(10));
    assert_eq!(pricing.cost("openai", "gpt-unknown", &known), None);
    assert_eq!(pricing.cost("openai", "gpt-4o-audio-preview", &known), None, "not a dated snapshot");
    assert_eq!(pricing.cost("nobody", "gpt-4o", &known), None);
    assert_eq!(pricing.cost("openai", "gpt-4o", &Usage::default()), None);
    assert!(pricing.cost("OpenAI", "gpt-4o", &known).is_some(), "provider names ignore case");
}

#[test]
fn dated_snapshots_match_the_longest_prefix() {
    let pricing = Pricing::embedded();
    let input = |provider: &str, model: &str| pricing.price(provider, model).map(|p| p.input);
    assert_eq!(input("openai", "gpt-4o-2024-08-06"), Some(2.50));
    assert_eq!(input("openai", "gpt-4o-2024-05-13"), Some(5.00), "an exact entry beats the prefix");
    assert_eq!(input("openai", "gpt-4o-mini-2024-07-18"), Some(0.15), "gpt-4o-mini, not gpt-4o");
    assert_eq!(input("openai", "gpt-4-0613"), Some(30.00));
    assert_eq!(input("anthropic", "claude-opus-4-5-20251101"), Some(5.00), "not claude-opus-4");
    assert_eq!(input("anthropic", "claude-opus-4-20250514"), Some(15.00));
    assert_eq!(input("anthropic", "claude-3-5-sonnet-latest"), Some(3.00));
    assert_eq!(input("anthropic", "claude-sonnet-4-5@20250929"), Some(3.00));
    assert_eq!(input("mistral", "mistral-large-2411"), Some(2.00));
    assert_eq!(input("gemini", "gemini-2.0-flash-001"), Some(0.10));
    assert_eq!(input("xai", "grok-4-0709"), Some(3.00));
    assert_eq!(input("anthropic", "claude-opus-4-6"), None, "a newer model is not guessed");
    assert_eq!(input("gemini", "gemini-2.5-flash-preview-05-20"), None);
}

#[test]
fn snapshot_suffixes() {
    for yes in ["-2024-08-06", "-20250929", "-0613", "-2411", "-001", "@20250929", "-latest"] {
        assert!(is_snapshot_suffix(yes), "{yes}");
    }
    for no in ["", "-", "-mini", "-5-20250929", "-2024-08", "-preview", "-12", "-123456789", "2024-08-06", "-2024-8-06"]
    {
        assert!(!is_snapshot_suffix(no), "{no}");
    }
}

#[test]
fn an_override_replaces_a_price_and_can_add_models() {
    let overrides = r#"
        [provider.openai.models]
        "gpt-4o" = { input = 1.0, output = 2.0 }

        [provider.local]
        source = "our own GPUs"
        [provider.local.models]
        "llama-3.3-70b" = { input = 0.0, output = 0.0 }
    "#;
    let pricing = Pricing::embedded().with_overrides(overrides).unwrap();
    // The whole entry is replaced: no cache_read price any more, so cached input bills as input.
    let cost = pricing.cost("openai", "gpt-4o", &usage(1_000_000, Some(500_000), None, Some(1_000_000)));
    assert_usd(cost, 1.0 + 2.0);
    assert_usd(pricing.cost("openai", "gpt-4o-mini", &usage(1_000_000, None, None, Some(0))), 0.15);
    assert_usd(pricing.cost("local", "llama-3.3-70b", &usage(10, None, None, Some(10))), 0.0);
    assert_eq!(pricing.source("local"), Some("our own GPUs"));
    assert_eq!(pricing.as_of(), Some("2025-11"));
}

#[test]
fn bad_overrides_are_rejected() {
    let negative = "[provider.openai.models]\n\"gpt-4o\" = { input = -1.0, output = 2.0 }";
    assert!(matches!(Pricing::embedded().with_overrides(negative), Err(CostError::Invalid(_))));
    let unknown_key = "[provider.openai.models]\n\"gpt-4o\" = { input = 1.0, outptu = 2.0 }";
    assert!(matches!(Pricing::embedded().with_overrides(unknown_key), Err(CostError::Parse(_))));
    let zero_threshold =
        "[provider.x.models]\n\"m\" = { input = 1.0, long_context = { above_input_tokens = 0, input = 2.0 } }";
    assert!(matches!(Pricing::embedded().with_overrides(zero_threshold), Err(CostError::Invalid(_))));
    assert!(matches!(Pricing::embedded().with_overrides("not = [toml"), Err(CostError::Parse(_))));
}
