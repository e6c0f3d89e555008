//! The `match` table of a hook or quota bucket: which requests it applies to. Each
//! non-empty list must match (AND across lists, OR within one); an empty table matches
//! every request. Identity lists are decided per connection without the body; `models`
//! needs the request's model, so it is decided only after the body is read.
use serde::Deserialize;

use super::{
    glob,
    subject::{RequestFacts, Subject},
};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Match {
    /// Provider names (`openai`, `anthropic`, …), globs allowed.
    pub providers: Vec<String>,
    /// `provider/model` globs: `openai/gpt-5*`, `anthropic/**`. A request that names no
    /// model is matched as `provider/`.
    pub models: Vec<String>,
    /// Local logins or organisation identities, globs allowed (`*@contractors.example`).
    pub users: Vec<String>,
    /// Groups from `[identity] groups`.
    pub groups: Vec<String>,
    /// Device tags (`tag:ci-runner`, `tag:ci`).
    pub tags: Vec<String>,
    /// Calling tools (`claude-code`, `codex`, `openai-python`, `curl`, …), globs allowed.
    pub clients: Vec<String>,
}

impl Match {
    /// Whether everything but the model matches: the check made before any body is read.
    pub fn matches_without_model(&self, subject: &Subject, facts: &RequestFacts, provider: &str) -> bool {
        let any = |patterns: &[String], name: &str| patterns.iter().any(|p| glob::matches(p, name));
        (self.providers.is_empty() || any(&self.providers, provider))
            && (self.models.is_empty() || self.models.iter().any(|m| glob::could_match_under(m, provider)))
            && (self.users.is_empty() || any(&self.users, &subject.user) || any(&self.users, &subject.login))
            && (self.groups.is_empty() || subject.groups.iter().any(|g| self.groups.contains(g)))
            && (self.tags.is_empty() || subject.tags.iter().any(|t| self.tags.contains(t)))
            && (self.clients.is_empty() || facts.client.as_deref().is_some_and(|c| any(&self.clients, c)))
    }

    /// Whether the model list matches (`provider/model`); true when it is empty.
    pub fn matches_model(&self, provider: &str, model: Option<&str>) -> bool {
        if self.models.is_empty() {
            return true;
        }
        let name = format!("{provider}/{}", model.unwrap_or_default());
        self.models.iter().any(|m| glob::matches(m, &name))
    }

    /// Whether deciding this match needs the request's model.
    pub fn needs_model(&self) -> bool {
        !self.models.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Subject {
        Subject {
            login: "alice@example.com".into(),
            user: "alice".into(),
            groups: vec!["ml".into()],
            tags: vec!["tag:dev".into()],
            ..Subject::default()
        }
    }

    fn facts(client: &str) -> RequestFacts {
        RequestFacts { client: Some(client.into()), session: String::new() }
    }

    #[test]
    fn empty_match_applies_to_everything() {
        let m = Match::default();
        assert!(m.matches_without_model(&alice(), &facts("curl"), "openai"));
        assert!(m.matches_model("openai", None));
    }

    #[test]
    fn every_list_must_match() {
        let m = Match { users: vec!["alice".into()], clients: vec!["claude-*".into()], ..Match::default() };
        assert!(m.matches_without_model(&alice(), &facts("claude-code"), "anthropic"));
        assert!(!m.matches_without_model(&alice(), &facts("curl"), "anthropic"));
        let m = Match { users: vec!["*@example.com".into()], groups: vec!["infra".into()], ..Match::default() };
        assert!(!m.matches_without_model(&alice(), &facts("curl"), "openai"));
        let m = Match { tags: vec!["tag:dev".into()], groups: vec!["ml".into()], ..Match::default() };
        assert!(m.matches_without_model(&alice(), &facts("curl"), "openai"));
    }

    #[test]
    fn models_prefilter_by_provider_then_decide_on_the_model() {
        let m = Match { models: vec!["openai/gpt-5*".into()], ..Match::default() };
        assert!(!m.matches_without_model(&alice(), &facts("curl"), "anthropic"));
        assert!(m.matches_without_model(&alice(), &facts("curl"), "openai"));
        assert!(m.matches_model("openai", Some("gpt-5-mini")));
        assert!(!m.matches_model("openai", Some("gpt-4o")));
        assert!(!m.matches_model("openai", None));
        let m = Match { models: vec!["anthropic/**".into()], ..Match::default() };
        assert!(m.matches_model("anthropic", None));
    }
}
