//! The S3 client: aws-sdk-s3 against any S3-compatible endpoint, with rustls on ring
//! (the tree's one crypto provider), static credentials from config or the standard AWS
//! chain, path-style addressing when asked, and checksums only where S3 requires them
//! (many compatible servers reject the newer default ones). Errors carry the service's
//! own code and message (`NoSuchBucket`, `SignatureDoesNotMatch`, …).
use std::time::Duration;

use aws_sdk_s3::{
    Client,
    config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation, timeout::TimeoutConfig},
    error::DisplayErrorContext,
    primitives::ByteStream,
};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use super::config::S3Config;

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("s3 {op} {key}: {message}")]
    Request { op: &'static str, key: String, message: String },
}

/// A bucket on an S3-compatible server.
pub struct Bucket {
    client: Client,
    bucket: String,
}

impl Bucket {
    pub async fn connect(config: &S3Config) -> Self {
        let http =
            aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
        if !config.region.is_empty() {
            loader = loader.region(Region::new(config.region.clone()));
        }
        if !config.access_key_id.is_empty() {
            let credentials =
                Credentials::new(&config.access_key_id, &config.secret_access_key, None, None, "glassbox");
            loader = loader.credentials_provider(credentials);
        }
        let shared = loader.load().await;
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(30))
            .operation_timeout(Duration::from_secs(60))
            .build();
        let mut builder = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .timeout_config(timeouts);
        if shared.region().is_none() {
            builder = builder.region(Region::new("us-east-1"));
        }
        if !config.endpoint.is_empty() {
            builder = builder.endpoint_url(&config.endpoint);
        }
        Self { client: Client::from_conf(builder.build()), bucket: config.bucket.clone() }
    }

    pub async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), S3Error> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| S3Error::Request {
                op: "put",
                key: key.to_owned(),
                message: DisplayErrorContext(&e).to_string(),
            })
    }

    pub async fn get(&self, key: &str) -> Result<Vec<u8>, S3Error> {
        let err = |message: String| S3Error::Request { op: "get", key: key.to_owned(), message };
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| err(DisplayErrorContext(&e).to_string()))?;
        let bytes = out.body.collect().await.map_err(|e| err(e.to_string()))?;
        Ok(bytes.to_vec())
    }

    /// Every key under `prefix`, in the order S3 lists them (lexicographic).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, S3Error> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| S3Error::Request {
                op: "list",
                key: prefix.to_owned(),
                message: DisplayErrorContext(&e).to_string(),
            })?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        }
        Ok(keys)
    }
}
