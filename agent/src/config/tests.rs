use super::*;

#[test]
fn default_lists_the_major_providers() {
    let config = Config::load(None).unwrap();
    for host in [
        "api.openai.com",
        "api.anthropic.com",
        "generativelanguage.googleapis.com",
        "api.mistral.ai",
        "api.groq.com",
        "openrouter.ai",
        "api.deepseek.com",
        "api.x.ai",
        "api.cohere.com",
    ] {
        assert!(config.provider_for(host).is_some(), "{host} missing from the default");
    }
    assert_eq!(config.storage.dir, PathBuf::from("/var/lib/glassbox"));
    assert_eq!(config.intercept.cgroup, "");
}

#[test]
fn providers_in_a_file_replace_the_defaults() {
    let config =
        Config::parse("[[providers]]\nname = \"openai\"\nhosts = [\"API.OpenAI.com\"]\n[intercept]\nport = 9000\n")
            .unwrap();
    assert_eq!(config.providers.len(), 1);
    assert_eq!(config.provider_for("api.openai.com").unwrap().name, "openai");
    assert!(config.provider_for("api.anthropic.com").is_none());
    assert_eq!(config.intercept.port, 9000);
    assert_eq!(config.intercept.target_port, 443);
}

#[test]
fn unknown_keys_and_bad_hosts_are_errors() {
    assert!(Config::parse("[intercept]\nprot = 1\n").is_err());
    assert!(Config::parse("[[providers]]\nname = \"x\"\nhosts = [\"10.0.0.1\"]\n").is_err());
    assert!(Config::parse("[[providers]]\nname = \"x\"\nhosts = [\"*.x.com\"]\n").is_err());
    assert!(Config::parse("[[providers]]\nname = \"x\"\nhosts = []\n").is_err());
}
