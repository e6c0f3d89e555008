//! CI context from a process environment. Each CI system marks its jobs with a variable
//! and describes the run in others; this maps them onto one shape
//! (marker: repository, workflow, job, run_id, attempt, url):
//!
//! - GitHub Actions (`GITHUB_ACTIONS=true`): `GITHUB_REPOSITORY`, `GITHUB_WORKFLOW`,
//!   `GITHUB_JOB`, `GITHUB_RUN_ID`, `GITHUB_RUN_ATTEMPT`,
//!   `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID`.
//! - GitLab CI (`GITLAB_CI=true`): `CI_PROJECT_PATH`, `CI_PIPELINE_NAME`, `CI_JOB_NAME`,
//!   `CI_PIPELINE_ID`, none, `CI_JOB_URL` else `CI_PIPELINE_URL`.
//! - Buildkite (`BUILDKITE=true`): `BUILDKITE_REPO`¹, `BUILDKITE_PIPELINE_SLUG`,
//!   `BUILDKITE_LABEL` else `BUILDKITE_STEP_KEY`, `BUILDKITE_BUILD_ID`,
//!   `BUILDKITE_RETRY_COUNT` + 1, `BUILDKITE_BUILD_URL`.
//! - Jenkins (`JENKINS_URL` set): `GIT_URL`¹, `JOB_NAME`, `STAGE_NAME`, `BUILD_ID` else
//!   `BUILD_NUMBER`, none, `BUILD_URL`.
//! - CircleCI (`CIRCLECI=true`): `CIRCLE_PROJECT_USERNAME/CIRCLE_PROJECT_REPONAME` else
//!   `CIRCLE_REPOSITORY_URL`¹, none (CircleCI exports no workflow name), `CIRCLE_JOB`,
//!   `CIRCLE_WORKFLOW_ID`, none, `CIRCLE_BUILD_URL`.
//!
//! ¹ A git URL, reduced to its path (`git@github.com:acme/app.git` → `acme/app`) so every
//! system names repositories the same way. `run_id` is the id of the whole run (one
//! workflow run, pipeline or build), so all jobs of a run share it. Empty values count as
//! unset. When several markers are present the first in this list wins.
use serde::{Deserialize, Serialize};

use super::procfs::env_get;

/// The CI run a process belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiContext {
    /// `github_actions`, `gitlab_ci`, `buildkite`, `jenkins` or `circleci`.
    pub system: String,
    pub repository: Option<String>,
    pub workflow: Option<String>,
    pub job: Option<String>,
    pub run_id: Option<String>,
    /// 1 for the first attempt of a run, where the system counts attempts.
    pub attempt: Option<String>,
    pub url: Option<String>,
}

/// The CI context an environment describes, if any.
pub fn ci_from_env(env: &[(String, String)]) -> Option<CiContext> {
    let get = |name: &str| env_get(env, name).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let is_true = |name: &str| get(name).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let context = |system: &str| CiContext { system: system.to_owned(), ..CiContext::default() };

    if is_true("GITHUB_ACTIONS") {
        let repository = get("GITHUB_REPOSITORY");
        let run_id = get("GITHUB_RUN_ID");
        let server = get("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".to_owned());
        let url = repository
            .as_ref()
            .zip(run_id.as_ref())
            .map(|(repo, run)| format!("{}/{repo}/actions/runs/{run}", server.trim_end_matches('/')));
        return Some(CiContext {
            workflow: get("GITHUB_WORKFLOW"),
            job: get("GITHUB_JOB"),
            attempt: get("GITHUB_RUN_ATTEMPT"),
            repository,
            run_id,
            url,
            ..context("github_actions")
        });
    }
    if is_true("GITLAB_CI") {
        return Some(CiContext {
            repository: get("CI_PROJECT_PATH"),
            workflow: get("CI_PIPELINE_NAME"),
            job: get("CI_JOB_NAME"),
            run_id: get("CI_PIPELINE_ID"),
            url: get("CI_JOB_URL").or_else(|| get("CI_PIPELINE_URL")),
            ..context("gitlab_ci")
        });
    }
    if is_true("BUILDKITE") {
        let attempt = get("BUILDKITE_RETRY_COUNT").and_then(|n| n.parse::<u32>().ok()).map(|n| (n + 1).to_string());
        return Some(CiContext {
            repository: get("BUILDKITE_REPO").map(|url| repo_path(&url)),
            workflow: get("BUILDKITE_PIPELINE_SLUG"),
            job: get("BUILDKITE_LABEL").or_else(|| get("BUILDKITE_STEP_KEY")),
            run_id: get("BUILDKITE_BUILD_ID"),
            attempt,
            url: get("BUILDKITE_BUILD_URL"),
            ..context("buildkite")
        });
    }
    if get("JENKINS_URL").is_some() {
        return Some(CiContext {
            repository: get("GIT_URL").map(|url| repo_path(&url)),
            workflow: get("JOB_NAME"),
            job: get("STAGE_NAME"),
            run_id: get("BUILD_ID").or_else(|| get("BUILD_NUMBER")),
            url: get("BUILD_URL"),
            ..context("jenkins")
        });
    }
    if is_true("CIRCLECI") {
        let repository = match (get("CIRCLE_PROJECT_USERNAME"), get("CIRCLE_PROJECT_REPONAME")) {
            (Some(owner), Some(name)) => Some(format!("{owner}/{name}")),
            _ => get("CIRCLE_REPOSITORY_URL").map(|url| repo_path(&url)),
        };
        return Some(CiContext {
            repository,
            job: get("CIRCLE_JOB"),
            run_id: get("CIRCLE_WORKFLOW_ID"),
            url: get("CIRCLE_BUILD_URL"),
            ..context("circleci")
        });
    }
    None
}

/// The `owner/name` path of a git remote URL: scheme, credentials, host, port and a
/// trailing `.git` removed. Anything unrecognised is returned as given.
fn repo_path(url: &str) -> String {
    let rest = if let Some((_, after_scheme)) = url.split_once("://") {
        // scheme://[user@]host[:port]/path
        after_scheme.split_once('/').map_or("", |(_, path)| path)
    } else if let Some((host, path)) = url.split_once(':')
        && !host.contains('/')
    {
        // scp-like: [user@]host:path
        path
    } else {
        url
    };
    let path = rest.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    if path.is_empty() { url.to_owned() } else { path.to_owned() }
}

#[cfg(test)]
mod tests;
