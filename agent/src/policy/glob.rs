//! Glob patterns for names such as `openai/gpt-5*`, `anthropic/**` or `mcp__github__*`:
//! `*` matches any run of characters but `/`, `**` any run including `/`, `?` one
//! character but `/`; everything else matches itself, ASCII case-insensitively.

/// Whether `name` matches `pattern` as a whole.
pub fn matches(pattern: &str, name: &str) -> bool {
    matches_bytes(pattern.as_bytes(), name.as_bytes())
}

fn matches_bytes(pattern: &[u8], name: &[u8]) -> bool {
    match pattern {
        [] => name.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=name.len()).any(|skip| matches_bytes(rest, &name[skip..])),
        [b'*', rest @ ..] => {
            let run = name.iter().position(|&b| b == b'/').unwrap_or(name.len());
            (0..=run).any(|skip| matches_bytes(rest, &name[skip..]))
        }
        [b'?', rest @ ..] => name.first().is_some_and(|&b| b != b'/') && matches_bytes(rest, &name[1..]),
        [p, rest @ ..] => name.first().is_some_and(|b| b.eq_ignore_ascii_case(p)) && matches_bytes(rest, &name[1..]),
    }
}

/// Whether any name that starts with `prefix/` could match `pattern`: used to decide
/// from the provider alone, before the model is known, that a `provider/model` glob
/// cannot apply.
pub fn could_match_under(pattern: &str, prefix: &str) -> bool {
    let Some((head, _)) = pattern.split_once('/') else {
        // `**` alone (or `*…**`) can still match across the slash.
        return pattern.contains("**") || matches(pattern, prefix);
    };
    if head.contains("**") {
        return true;
    }
    matches(head, prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_stays_within_a_segment() {
        assert!(matches("openai/gpt-5*", "openai/gpt-5"));
        assert!(matches("openai/gpt-5*", "openai/gpt-5-mini-2025-08-07"));
        assert!(!matches("openai/gpt-5*", "openai/gpt-4o"));
        assert!(!matches("openai/*", "openai/org/model"));
        assert!(!matches("openai/gpt-5*", "anthropic/gpt-5"));
    }

    #[test]
    fn double_star_crosses_segments_and_matches_empty() {
        assert!(matches("anthropic/**", "anthropic/claude-sonnet-4-5"));
        assert!(matches("anthropic/**", "anthropic/"));
        assert!(matches("openrouter/**", "openrouter/openai/gpt-4o"));
        assert!(matches("**", "anything/at/all"));
        assert!(!matches("anthropic/**", "openai/gpt-4o"));
    }

    #[test]
    fn literal_question_mark_and_case() {
        assert!(matches("mcp__github__*", "mcp__github__create_issue"));
        assert!(!matches("mcp__github__*", "mcp__gitlab__create_issue"));
        assert!(matches("Bash", "bash"));
        assert!(matches("gpt-4?", "gpt-4o"));
        assert!(!matches("gpt-4?", "gpt-4"));
    }

    #[test]
    fn provider_prefilter() {
        assert!(could_match_under("openai/gpt-5*", "openai"));
        assert!(!could_match_under("openai/gpt-5*", "anthropic"));
        assert!(could_match_under("*/gpt-5*", "anthropic"));
        assert!(could_match_under("**", "anthropic"));
        assert!(could_match_under("open*", "openai"));
    }
}
