//! Tool calls put back together from stream deltas. Each family keys a call by where the
//! provider places it (OpenAI chat: choice and `index`; Anthropic: content block index;
//! Responses: `output_index`), so parallel calls whose fragments interleave each come out
//! whole, in key order. A call announced with a new id at a key that already holds
//! another call (a provider that numbers every call `index: 0`) becomes a call of its own
//! after the first, rather than being merged into it.
use std::collections::{BTreeMap, HashMap};

use super::ToolCall;

/// Where a call sits in the response: (choice, position within it).
pub(super) type Key = (u64, u64);

#[derive(Default)]
pub(super) struct Calls {
    /// By key, then by how many calls that key has held before.
    calls: BTreeMap<(Key, u32), Partial>,
    /// The current call at each key.
    current: HashMap<Key, u32>,
}

#[derive(Default)]
struct Partial {
    id: Option<String>,
    name: Option<String>,
    /// Argument fragments received so far.
    arguments: String,
    fragments: bool,
    /// The arguments the call was announced with, used if no fragment follows
    /// (Anthropic announces `"input": {}` and then streams the real input).
    announced: String,
}

impl Calls {
    /// Starts the call at `key`, or fills in what it lacks: the first id and name win,
    /// since some providers repeat them on later deltas.
    pub(super) fn start(&mut self, key: Key, id: Option<String>, name: Option<String>, announced: String) {
        let id = id.filter(|s| !s.is_empty());
        let held = self.current.get(&key).and_then(|n| self.calls.get(&(key, *n)));
        if let (Some(held), Some(new)) = (held.and_then(|c| c.id.as_ref()), id.as_ref())
            && held != new
        {
            *self.current.entry(key).or_default() += 1;
        }
        let call = self.entry(key);
        call.id = call.id.take().or(id);
        call.name = call.name.take().or(name.filter(|s| !s.is_empty()));
        if call.announced.is_empty() {
            call.announced = announced;
        }
    }

    /// Appends an argument fragment to the call at `key`.
    pub(super) fn append(&mut self, key: Key, fragment: &str) {
        let call = self.entry(key);
        call.arguments.push_str(fragment);
        call.fragments = true;
    }

    /// Replaces the arguments of the call at `key` with their final, whole text.
    pub(super) fn set_arguments(&mut self, key: Key, arguments: String) {
        let call = self.entry(key);
        call.arguments = arguments;
        call.fragments = true;
    }

    fn entry(&mut self, key: Key) -> &mut Partial {
        let n = *self.current.entry(key).or_default();
        self.calls.entry((key, n)).or_default()
    }

    /// Whether any call has been seen.
    pub(super) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The calls in key order. A call cut before its name arrived keeps an empty name.
    pub(super) fn finish(self) -> Vec<ToolCall> {
        self.calls
            .into_values()
            .map(|call| ToolCall {
                id: call.id,
                name: call.name.unwrap_or_default(),
                arguments: if call.fragments { call.arguments } else { call.announced },
            })
            .collect()
    }
}
