use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

#[test]
fn github_actions() {
    let ci = ci_from_env(&env(&[
        ("PATH", "/usr/bin"),
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "acme/app"),
        ("GITHUB_WORKFLOW", "CI"),
        ("GITHUB_JOB", "test"),
        ("GITHUB_RUN_ID", "9876543210"),
        ("GITHUB_RUN_ATTEMPT", "2"),
        ("GITHUB_SERVER_URL", "https://github.com"),
    ]))
    .unwrap();
    assert_eq!(
        ci,
        CiContext {
            system: "github_actions".into(),
            repository: some("acme/app"),
            workflow: some("CI"),
            job: some("test"),
            run_id: some("9876543210"),
            attempt: some("2"),
            url: some("https://github.com/acme/app/actions/runs/9876543210"),
        }
    );
}

#[test]
fn github_enterprise_server_url_and_missing_fields() {
    let ci = ci_from_env(&env(&[
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "acme/app"),
        ("GITHUB_RUN_ID", "7"),
        ("GITHUB_SERVER_URL", "https://ghe.acme.internal/"),
        ("GITHUB_JOB", ""),
    ]))
    .unwrap();
    assert_eq!(ci.url.as_deref(), Some("https://ghe.acme.internal/acme/app/actions/runs/7"));
    assert_eq!(ci.job, None, "empty values count as unset");
    assert_eq!(ci.attempt, None);
    let bare = ci_from_env(&env(&[("GITHUB_ACTIONS", "true")])).unwrap();
    assert_eq!(bare, CiContext { system: "github_actions".into(), ..CiContext::default() });
}

#[test]
fn gitlab_ci() {
    let ci = ci_from_env(&env(&[
        ("GITLAB_CI", "true"),
        ("CI_PROJECT_PATH", "acme/platform/app"),
        ("CI_PIPELINE_ID", "1234567"),
        ("CI_PIPELINE_NAME", "nightly"),
        ("CI_JOB_NAME", "rspec 1/4"),
        ("CI_JOB_ID", "99887766"),
        ("CI_JOB_URL", "https://gitlab.com/acme/platform/app/-/jobs/99887766"),
        ("CI_PIPELINE_URL", "https://gitlab.com/acme/platform/app/-/pipelines/1234567"),
    ]))
    .unwrap();
    assert_eq!(ci.system, "gitlab_ci");
    assert_eq!(ci.repository.as_deref(), Some("acme/platform/app"));
    assert_eq!(ci.workflow.as_deref(), Some("nightly"));
    assert_eq!(ci.job.as_deref(), Some("rspec 1/4"));
    assert_eq!(ci.run_id.as_deref(), Some("1234567"));
    assert_eq!(ci.attempt, None);
    assert_eq!(ci.url.as_deref(), Some("https://gitlab.com/acme/platform/app/-/jobs/99887766"));
}

#[test]
fn buildkite() {
    let ci = ci_from_env(&env(&[
        ("BUILDKITE", "true"),
        ("BUILDKITE_REPO", "git@github.com:acme/app.git"),
        ("BUILDKITE_PIPELINE_SLUG", "app-deploy"),
        ("BUILDKITE_LABEL", ":rust: test"),
        ("BUILDKITE_STEP_KEY", "test"),
        ("BUILDKITE_BUILD_ID", "01890f2e-6b1c-4f4e-9a2d-5c3b2a1f0e9d"),
        ("BUILDKITE_BUILD_NUMBER", "1514"),
        ("BUILDKITE_RETRY_COUNT", "0"),
        ("BUILDKITE_BUILD_URL", "https://buildkite.com/acme/app-deploy/builds/1514"),
    ]))
    .unwrap();
    assert_eq!(ci.system, "buildkite");
    assert_eq!(ci.repository.as_deref(), Some("acme/app"));
    assert_eq!(ci.workflow.as_deref(), Some("app-deploy"));
    assert_eq!(ci.job.as_deref(), Some(":rust: test"));
    assert_eq!(ci.run_id.as_deref(), Some("01890f2e-6b1c-4f4e-9a2d-5c3b2a1f0e9d"));
    assert_eq!(ci.attempt.as_deref(), Some("1"));
    assert_eq!(ci.url.as_deref(), Some("https://buildkite.com/acme/app-deploy/builds/1514"));
}

#[test]
fn jenkins() {
    let ci = ci_from_env(&env(&[
        ("JENKINS_URL", "https://jenkins.acme.internal/"),
        ("JENKINS_HOME", "/var/jenkins_home"),
        ("JOB_NAME", "acme/app/main"),
        ("STAGE_NAME", "Integration"),
        ("BUILD_ID", "318"),
        ("BUILD_NUMBER", "318"),
        ("BUILD_URL", "https://jenkins.acme.internal/job/acme/job/app/job/main/318/"),
        ("GIT_URL", "https://github.com/acme/app.git"),
    ]))
    .unwrap();
    assert_eq!(ci.system, "jenkins");
    assert_eq!(ci.repository.as_deref(), Some("acme/app"));
    assert_eq!(ci.workflow.as_deref(), Some("acme/app/main"));
    assert_eq!(ci.job.as_deref(), Some("Integration"));
    assert_eq!(ci.run_id.as_deref(), Some("318"));
    assert_eq!(ci.url.as_deref(), Some("https://jenkins.acme.internal/job/acme/job/app/job/main/318/"));
    let numbered = ci_from_env(&env(&[("JENKINS_URL", "http://j/"), ("BUILD_NUMBER", "5")])).unwrap();
    assert_eq!(numbered.run_id.as_deref(), Some("5"));
}

#[test]
fn circleci() {
    let ci = ci_from_env(&env(&[
        ("CIRCLECI", "true"),
        ("CIRCLE_PROJECT_USERNAME", "acme"),
        ("CIRCLE_PROJECT_REPONAME", "app"),
        ("CIRCLE_REPOSITORY_URL", "git@github.com:acme/app.git"),
        ("CIRCLE_JOB", "build-and-test"),
        ("CIRCLE_BUILD_NUM", "4242"),
        ("CIRCLE_WORKFLOW_ID", "6f1c3a2e-1b2c-4d5e-8f90-a1b2c3d4e5f6"),
        ("CIRCLE_BUILD_URL", "https://circleci.com/gh/acme/app/4242"),
    ]))
    .unwrap();
    assert_eq!(ci.system, "circleci");
    assert_eq!(ci.repository.as_deref(), Some("acme/app"));
    assert_eq!(ci.workflow, None);
    assert_eq!(ci.job.as_deref(), Some("build-and-test"));
    assert_eq!(ci.run_id.as_deref(), Some("6f1c3a2e-1b2c-4d5e-8f90-a1b2c3d4e5f6"));
    assert_eq!(ci.url.as_deref(), Some("https://circleci.com/gh/acme/app/4242"));
    let by_url =
        ci_from_env(&env(&[("CIRCLECI", "true"), ("CIRCLE_REPOSITORY_URL", "git@github.com:acme/web.git")])).unwrap();
    assert_eq!(by_url.repository.as_deref(), Some("acme/web"));
}

#[test]
fn no_marker_no_context() {
    assert_eq!(ci_from_env(&[]), None);
    // `CI=true` alone is set by developers to silence prompts; it names no system.
    assert_eq!(ci_from_env(&env(&[("CI", "true"), ("GITHUB_REPOSITORY", "acme/app")])), None);
    assert_eq!(ci_from_env(&env(&[("GITHUB_ACTIONS", "false")])), None);
    assert_eq!(ci_from_env(&env(&[("JENKINS_URL", "")])), None);
}

#[test]
fn the_first_marker_wins() {
    let ci = ci_from_env(&env(&[("CIRCLECI", "true"), ("GITLAB_CI", "true"), ("GITHUB_ACTIONS", "true")])).unwrap();
    assert_eq!(ci.system, "github_actions");
}

#[test]
fn repo_paths() {
    for (url, path) in [
        ("git@github.com:acme/app.git", "acme/app"),
        ("https://github.com/acme/app.git", "acme/app"),
        ("https://x-token-auth:secret@bitbucket.org/acme/app.git", "acme/app"),
        ("ssh://git@gitlab.acme.internal:2222/group/sub/app.git", "group/sub/app"),
        ("https://github.com/acme/app/", "acme/app"),
        ("acme/app", "acme/app"),
        ("/srv/git/app.git", "srv/git/app"),
    ] {
        assert_eq!(repo_path(url), path, "{url}");
    }
}
