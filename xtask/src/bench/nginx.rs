//! nginx as the benchmark's reference TLS-terminating reverse proxy: its temporary
//! configuration (everything under the scratch directory) and the command that runs it in
//! the foreground. It presents the provider's certificate, keeps upstream connections
//! alive, verifies the fake provider as glassbox does, and does not buffer responses.
use std::{path::Path, process::Command};

/// The knobs of the configuration; the rest is fixed.
pub struct Site<'a> {
    /// Where nginx listens, e.g. `127.0.0.78:443`.
    pub listen: &'a str,
    /// The fake provider, e.g. `127.0.0.77:443`.
    pub upstream: &'a str,
    /// The provider host name: the SNI and Host sent upstream.
    pub host: &'a str,
    /// The workspace's `certs/` (provider.pem/key served, test-ca.pem trusted upstream).
    pub certs: &'a Path,
    /// nginx's prefix: config, pid, logs and temp paths go here.
    pub prefix: &'a Path,
}

/// `worker_processes auto` is 2 here: as many workers as glassbox has tokio worker
/// threads (one per core), so both proxies may use every core.
pub const WORKERS: &str = "auto";

impl Site<'_> {
    /// The nginx.conf text.
    pub fn config(&self) -> String {
        let Site { listen, upstream, host, certs, prefix } = self;
        let (certs, prefix) = (certs.display(), prefix.display());
        format!(
            r#"# Written by `cargo xtask bench`; removed after the run.
worker_processes {WORKERS};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    upstream fake_provider {{
        server {upstream};
        keepalive 64;
        keepalive_requests 100000;
    }}

    server {{
        listen {listen} ssl;
        server_name {host};
        ssl_certificate {certs}/provider.pem;
        ssl_certificate_key {certs}/provider.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        keepalive_requests 100000;

        location / {{
            proxy_pass https://fake_provider;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host {host};
            proxy_ssl_server_name on;
            proxy_ssl_name {host};
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {certs}/test-ca.pem;
            proxy_ssl_session_reuse on;
            proxy_buffering off;
        }}
    }}
}}
"#
        )
    }

    /// nginx in the foreground (master + workers) with this prefix and configuration.
    pub fn command(&self, conf: &Path) -> Command {
        let mut cmd = Command::new("nginx");
        cmd.arg("-p").arg(self.prefix).arg("-e").arg(self.prefix.join("error.log"));
        cmd.arg("-c").arg(conf).args(["-g", "daemon off;"]);
        cmd
    }
}
