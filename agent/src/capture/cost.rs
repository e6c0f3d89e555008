//! Cost: the USD price of one call, from normalised [`Usage`] and a dated price table
//! (`agent/pricing.toml`, embedded at build time, overridable per model by configuration).
//!
//! cost = uncached input × `input` + cache reads × `cache_read` + cache writes ×
//! `cache_creation` + output × `output`, per million tokens, where uncached input =
//! input − cache reads − cache writes (input counts all three, see [`Usage`]). A model
//! that is not in the table, or a call whose input count is unknown, has no cost: never a
//! guess. Matching rules and fallbacks are documented in the table's header.
use std::collections::BTreeMap;

use serde::Deserialize;

use super::usage::Usage;

const EMBEDDED: &str = include_str!("../../pricing.toml");

#[derive(Debug, thiserror::Error)]
pub enum CostError {
    #[error("invalid pricing table")]
    Parse(#[source] toml::de::Error),
    #[error("invalid pricing table: {0}")]
    Invalid(String),
}

/// One model's prices, USD per million tokens.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    /// `None`: the model produces no output tokens (embeddings).
    pub output: Option<f64>,
    /// `None`: billed as `input`.
    pub cache_read: Option<f64>,
    /// `None`: billed as `input`.
    pub cache_creation: Option<f64>,
    /// Other rates for the whole call once its input exceeds a threshold.
    pub long_context: Option<LongContext>,
}

/// The rates that apply when a call's input exceeds `above_input_tokens`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongContext {
    pub above_input_tokens: u64,
    pub input: f64,
    pub output: Option<f64>,
    pub cache_read: Option<f64>,
    pub cache_creation: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    as_of: Option<String>,
    #[serde(default)]
    provider: BTreeMap<String, ProviderPrices>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderPrices {
    source: Option<String>,
    #[serde(default)]
    models: BTreeMap<String, Price>,
}

/// The price table in force.
#[derive(Debug, Clone)]
pub struct Pricing {
    table: Table,
}

impl Pricing {
    /// The table built into the binary.
    pub fn embedded() -> Self {
        // The embedded table is a constant checked by a unit test, not input.
        Self { table: parse(EMBEDDED).expect("the embedded pricing.toml is valid") }
    }

    /// `overrides`: TOML text in the same format, merged over this table per model (a
    /// model given there replaces the whole entry; `source` and `as_of`, if given, replace
    /// theirs).
    pub fn with_overrides(mut self, overrides_toml: &str) -> Result<Self, CostError> {
        let overrides = parse(overrides_toml)?;
        if overrides.as_of.is_some() {
            self.table.as_of = overrides.as_of;
        }
        for (name, prices) in overrides.provider {
            let entry = self
                .table
                .provider
                .entry(name)
                .or_insert_with(|| ProviderPrices { source: None, models: BTreeMap::new() });
            if prices.source.is_some() {
                entry.source = prices.source;
            }
            entry.models.extend(prices.models);
        }
        Ok(self)
    }

    /// The date the prices were known to hold.
    pub fn as_of(&self) -> Option<&str> {
        self.table.as_of.as_deref()
    }

    /// Where a provider's prices come from.
    pub fn source(&self, provider: &str) -> Option<&str> {
        self.provider(provider)?.source.as_deref()
    }

    /// The prices for a model: the exact id, else the longest id in the table that it
    /// extends by a dated snapshot suffix (`gpt-4o-2024-08-06` → `gpt-4o`). A leading
    /// `models/` (Gemini) is ignored.
    pub fn price(&self, provider: &str, model: &str) -> Option<&Price> {
        let models = &self.provider(provider)?.models;
        let model = model.strip_prefix("models/").unwrap_or(model);
        models.get(model).or_else(|| {
            models
                .iter()
                .filter(|(id, _)| model.strip_prefix(id.as_str()).is_some_and(is_snapshot_suffix))
                .max_by_key(|(id, _)| id.len())
                .map(|(_, price)| price)
        })
    }

    /// USD for this usage, or `None` when the model is unknown or usage is unknown (never
    /// a guess). Unknown cache and output counts count as 0; output tokens reported for a
    /// model priced without output make the cost unknown.
    pub fn cost(&self, provider: &str, model: &str, usage: &Usage) -> Option<f64> {
        let price = self.price(provider, model)?;
        let input = usage.input_tokens?;
        let (cache_read, cache_creation) =
            (usage.cache_read_tokens.unwrap_or(0), usage.cache_creation_tokens.unwrap_or(0));
        let output = usage.output_tokens.unwrap_or(0);
        let uncached = input.saturating_sub(cache_read).saturating_sub(cache_creation);
        let (input_rate, output_rate, cache_read_rate, cache_creation_rate) = match &price.long_context {
            Some(long) if input > long.above_input_tokens => {
                (long.input, long.output, long.cache_read, long.cache_creation)
            }
            _ => (price.input, price.output, price.cache_read, price.cache_creation),
        };
        let output_rate = match output_rate {
            Some(rate) => rate,
            None if output == 0 => 0.0,
            None => return None,
        };
        let micro_usd = uncached as f64 * input_rate
            + cache_read as f64 * cache_read_rate.unwrap_or(input_rate)
            + cache_creation as f64 * cache_creation_rate.unwrap_or(input_rate)
            + output as f64 * output_rate;
        Some(micro_usd / 1_000_000.0)
    }

    fn provider(&self, provider: &str) -> Option<&ProviderPrices> {
        self.table.provider.iter().find(|(name, _)| name.eq_ignore_ascii_case(provider)).map(|(_, p)| p)
    }
}

fn parse(text: &str) -> Result<Table, CostError> {
    let table: Table = toml::from_str(text).map_err(CostError::Parse)?;
    for (provider, prices) in &table.provider {
        for (model, price) in &prices.models {
            let long = price.long_context.as_ref();
            let rates = [Some(price.input), price.output, price.cache_read, price.cache_creation]
                .into_iter()
                .chain(long.map_or(vec![], |l| vec![Some(l.input), l.output, l.cache_read, l.cache_creation]))
                .flatten();
            for rate in rates {
                if !rate.is_finite() || rate < 0.0 {
                    return Err(CostError::Invalid(format!(
                        "{provider}/{model}: price {rate} is not a finite USD amount ≥ 0"
                    )));
                }
            }
            if long.is_some_and(|l| l.above_input_tokens == 0) {
                return Err(CostError::Invalid(format!(
                    "{provider}/{model}: long_context.above_input_tokens must be > 0"
                )));
            }
        }
    }
    Ok(table)
}

/// `-2024-08-06`, `-20250929`, `-0613` / `-2411`, `-001`, `@20250929`, `-latest`.
fn is_snapshot_suffix(rest: &str) -> bool {
    let Some(tag) = rest.strip_prefix('-').or_else(|| rest.strip_prefix('@')) else { return false };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let date = || {
        let mut parts = tag.split('-');
        matches!((parts.next(), parts.next(), parts.next(), parts.next()),
            (Some(y), Some(m), Some(d), None) if digits(y, 4) && digits(m, 2) && digits(d, 2))
    };
    tag == "latest" || digits(tag, 3) || digits(tag, 4) || digits(tag, 8) || date()
}

#[cfg(test)]
mod tests;
