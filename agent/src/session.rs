//! Sessions: which requests belong together (one coding-agent task, one CI job).
