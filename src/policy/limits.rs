//! The YAML reader's resource limits: what stops a hostile file (an alias bomb, nesting deep
//! enough to exhaust the stack, a file larger than memory) without stopping a legitimate large
//! one (75k policies, 100k pods in one file).
//!
//! Three limits, each with a name that appears in its error and an environment variable that
//! raises it (read by [`YamlLimits::from_env`], so `kakinectl` and `kakine-agent` honour them):
//!
//! | limit | default | variable | stops |
//! |---|---|---|---|
//! | `max-input-bytes` | 256 MiB per file | `KAKINE_MAX_INPUT_BYTES` | files larger than memory; absurd scalars (a scalar is part of its file) |
//! | `max-yaml-depth` | 64 levels | `KAKINE_MAX_YAML_DEPTH` | nesting that exhausts the stack (a policy nests about 10 levels) |
//! | `max-alias-expansion` | 1,000,000 nodes | `KAKINE_MAX_ALIAS_EXPANSION` | alias bombs ("billion laughs"): the nodes (and events) aliases may add to a file, and the aliases and retained anchor events it may use |
//!
//! The counting budgets of serde-saphyr (1,024 documents and 250,000 nodes by default) are
//! scaled to the file: a file may hold as many documents and nodes as it has bytes (without
//! aliases it cannot hold more), plus `max-alias-expansion` nodes replayed by aliases. An input
//! is thus limited by its size, not by how it is split into documents.

use std::path::Path;

use serde_saphyr::budget::BudgetBreach;

use super::error::PolicyError;

/// The limits of one YAML read. Source of the counting budgets:
/// `serde_saphyr::Budget` (serde-saphyr 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YamlLimits {
    /// Largest file, in bytes (`max-input-bytes`).
    pub max_input_bytes: usize,
    /// Deepest nesting of mappings and sequences (`max-yaml-depth`), at most
    /// [`MAX_DEPTH_CEILING`].
    pub max_depth: usize,
    /// Most parser events that aliases may replay in one file (`max-alias-expansion`).
    pub max_alias_expansion: usize,
}

/// The most `max-yaml-depth` may be raised to: deeper values would let a document overflow the
/// stack of the recursive deserializers.
pub const MAX_DEPTH_CEILING: usize = 256;

/// One limit: its name in errors and docs, and the environment variable that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The name, as in errors (`max-yaml-depth`).
    pub name: &'static str,
    /// The environment variable that raises it.
    pub env: &'static str,
}

/// `max-input-bytes`.
pub const MAX_INPUT_BYTES: Limit = Limit {
    name: "max-input-bytes",
    env: "KAKINE_MAX_INPUT_BYTES",
};
/// `max-yaml-depth`.
pub const MAX_YAML_DEPTH: Limit = Limit {
    name: "max-yaml-depth",
    env: "KAKINE_MAX_YAML_DEPTH",
};
/// `max-alias-expansion`.
pub const MAX_ALIAS_EXPANSION: Limit = Limit {
    name: "max-alias-expansion",
    env: "KAKINE_MAX_ALIAS_EXPANSION",
};

impl Default for YamlLimits {
    fn default() -> Self {
        YamlLimits {
            max_input_bytes: 256 << 20,
            max_depth: 64,
            max_alias_expansion: 1_000_000,
        }
    }
}

impl YamlLimits {
    /// The defaults, with each limit whose environment variable is set replaced by its value
    /// (a decimal integer, optionally suffixed `K`, `M` or `G` for binary multiples).
    ///
    /// Errors: a variable that is not such a number, or a depth above [`MAX_DEPTH_CEILING`]
    /// ([`PolicyError::Limit`] naming the variable).
    pub fn from_env() -> Result<Self, PolicyError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`YamlLimits::from_env`], reading variables through `var` (tests pass a map).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, PolicyError> {
        let mut limits = YamlLimits::default();
        for (limit, slot) in [
            (MAX_INPUT_BYTES, &mut limits.max_input_bytes),
            (MAX_YAML_DEPTH, &mut limits.max_depth),
            (MAX_ALIAS_EXPANSION, &mut limits.max_alias_expansion),
        ] {
            if let Some(text) = var(limit.env) {
                *slot = parse_size(&text).ok_or_else(|| PolicyError::Limit {
                    file: limit.env.into(),
                    message: format!(
                        "{}: \"{text}\" is not a number (bytes or a count, optional K/M/G suffix)",
                        limit.name
                    ),
                })?;
            }
        }
        if limits.max_depth > MAX_DEPTH_CEILING {
            return Err(PolicyError::Limit {
                file: MAX_YAML_DEPTH.env.into(),
                message: format!(
                    "{}: {} is above the ceiling {MAX_DEPTH_CEILING} (deeper documents would \
                     overflow the stack)",
                    MAX_YAML_DEPTH.name, limits.max_depth
                ),
            });
        }
        Ok(limits)
    }

    /// The stack a parse under these limits needs: the recursive deserializer takes about
    /// 24 KiB a level in a debug build (measured: 2 MiB overflows between 80 and 90 levels),
    /// so 48 KiB a level plus 1 MiB for the caller's frames.
    pub fn parse_stack_bytes(&self) -> usize {
        (1 << 20) + self.max_depth * (48 << 10)
    }

    /// Checks a file's size against `max-input-bytes` before it is read.
    pub fn check_size(&self, file: &Path, bytes: u64) -> Result<(), PolicyError> {
        if bytes > self.max_input_bytes as u64 {
            return Err(breach(
                file,
                MAX_INPUT_BYTES,
                format!("the file is {bytes} bytes"),
                self.max_input_bytes,
            ));
        }
        Ok(())
    }

    /// serde-saphyr options enforcing these limits on `text`: depth and alias expansion as set,
    /// the counting budgets scaled to the text's length.
    pub fn options(&self, text: &str) -> serde_saphyr::Options {
        let len = text.len();
        let mut budget = serde_saphyr::Budget::default();
        budget.max_depth = self.max_depth;
        // Flow collections (`[[[..]]]`) count toward `max_depth` like block ones; the parser's
        // own cap on them stays above it, so the error names `max-yaml-depth`.
        budget.flow_nesting_limit = budget.flow_nesting_limit.max(self.max_depth + 1);
        // Nodes and events replayed from aliases count too: the file's own (at most one node
        // and a few events a byte) plus `max-alias-expansion`.
        let expansion = self.max_alias_expansion;
        budget.max_documents = budget.max_documents.max(len.saturating_add(1));
        budget.max_nodes = len.saturating_add(1).saturating_add(expansion);
        budget.max_events = len
            .saturating_mul(4)
            .saturating_add(16)
            .saturating_add(expansion.saturating_mul(2));
        budget.max_total_scalar_bytes = budget
            .max_total_scalar_bytes
            .max(len.saturating_mul(2).saturating_add(16));
        budget.max_reader_input_bytes = Some(self.max_input_bytes);
        budget.max_aliases = self.max_alias_expansion;
        budget.max_recorded_anchor_events = self.max_alias_expansion;
        let mut options = serde_saphyr::Options::default();
        options.budget = Some(budget);
        options.alias_limits.max_total_replayed_events = self.max_alias_expansion;
        // YAML 1.2 booleans only: a namespace named `y` or `n` must stay a string.
        options.strict_booleans = true;
        options
    }

    /// The limit that `error` (of parsing a text of `text_len` bytes) hit, as a
    /// [`PolicyError::Limit`] naming it and its variable; `None` for errors that are not about
    /// limits (malformed YAML).
    pub fn explain(
        &self,
        file: &Path,
        text_len: usize,
        error: &serde_saphyr::Error,
    ) -> Option<PolicyError> {
        use serde_saphyr::Error as E;
        let mut error = error;
        while let E::AliasError { error: inner, .. } | E::WithSnippet { error: inner, .. } = error {
            error = inner;
        }
        let expansion = |what: String| {
            Some(breach(
                file,
                MAX_ALIAS_EXPANSION,
                what,
                self.max_alias_expansion,
            ))
        };
        match error {
            E::Budget { breach: b, .. } => match b {
                BudgetBreach::Depth { depth } => Some(breach(
                    file,
                    MAX_YAML_DEPTH,
                    format!("a document nests {depth} levels deep"),
                    self.max_depth,
                )),
                BudgetBreach::Nodes { nodes } => expansion(format!(
                    "the file expands to {nodes} nodes ({} of its own at most)",
                    text_len + 1
                )),
                BudgetBreach::Events { events } => expansion(format!(
                    "the file expands to {events} parser events ({} of its own at most)",
                    text_len * 4 + 16
                )),
                BudgetBreach::Aliases { aliases } => {
                    expansion(format!("the file uses {aliases} aliases"))
                }
                BudgetBreach::RecordedAnchorEvents {
                    recorded_anchor_events,
                } => expansion(format!(
                    "anchors retain {recorded_anchor_events} events for aliases"
                )),
                BudgetBreach::AliasAnchorRatio { aliases, anchors } => expansion(format!(
                    "{aliases} aliases of {anchors} anchors (over 10 aliases per anchor)"
                )),
                BudgetBreach::InputBytes { input_bytes } => Some(breach(
                    file,
                    MAX_INPUT_BYTES,
                    format!("the input is {input_bytes} bytes"),
                    self.max_input_bytes,
                )),
                // The counting budgets scale with the file, so only replayed aliases or a
                // pathological shape reach them: report them under the size limit they follow.
                other => Some(PolicyError::Limit {
                    file: file.to_path_buf(),
                    message: format!(
                        "YAML budget exceeded ({other:?}); the counting budgets scale with \
                         the file size, raise {} ({}=N) or split the file",
                        MAX_INPUT_BYTES.name, MAX_INPUT_BYTES.env
                    ),
                }),
            },
            E::AliasReplayLimitExceeded {
                total_replayed_events,
                ..
            } => expansion(format!(
                "aliases replay more than {total_replayed_events} events"
            )),
            E::AliasReplayStackDepthExceeded { depth, .. } => Some(breach(
                file,
                MAX_YAML_DEPTH,
                format!("aliases nest {depth} levels deep"),
                self.max_depth,
            )),
            _ => None,
        }
    }
}

/// The error of a limit that was hit: what, the limit's name and value, and how to raise it.
fn breach(file: &Path, limit: Limit, what: String, max: usize) -> PolicyError {
    PolicyError::Limit {
        file: file.to_path_buf(),
        message: format!(
            "{what}, over the limit {} = {max}; if the input is legitimate, raise it with {}=N",
            limit.name, limit.env
        ),
    }
}

/// `123`, `64K`, `512M`, `1G` (binary multiples).
fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, shift) = match text.chars().last()? {
        'K' | 'k' => (&text[..text.len() - 1], 10),
        'M' | 'm' => (&text[..text.len() - 1], 20),
        'G' | 'g' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    digits.parse::<usize>().ok()?.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_binary_suffixes() {
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("64K"), Some(64 << 10));
        assert_eq!(parse_size("512m"), Some(512 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn variables_override_the_defaults_and_bad_values_name_the_variable() {
        let limits = YamlLimits::from_vars(|name| {
            (name == "KAKINE_MAX_YAML_DEPTH").then(|| "128".to_string())
        })
        .expect("valid");
        assert_eq!(limits.max_depth, 128);
        assert_eq!(
            limits.max_input_bytes,
            YamlLimits::default().max_input_bytes
        );

        let err = YamlLimits::from_vars(|name| {
            (name == "KAKINE_MAX_INPUT_BYTES").then(|| "big".to_string())
        })
        .expect_err("not a number");
        assert_eq!(
            err.to_string(),
            "KAKINE_MAX_INPUT_BYTES: max-input-bytes: \"big\" is not a number (bytes or a \
             count, optional K/M/G suffix)"
        );
        let err = YamlLimits::from_vars(|name| {
            (name == "KAKINE_MAX_YAML_DEPTH").then(|| "100000".to_string())
        })
        .expect_err("above the ceiling");
        assert!(err.to_string().contains("above the ceiling 256"), "{err}");
    }

    #[test]
    fn a_file_over_the_size_limit_is_refused_naming_the_limit() {
        let limits = YamlLimits {
            max_input_bytes: 100,
            ..YamlLimits::default()
        };
        assert!(limits.check_size(Path::new("a.yaml"), 100).is_ok());
        let err = limits
            .check_size(Path::new("a.yaml"), 101)
            .expect_err("too big");
        assert_eq!(
            err.to_string(),
            "a.yaml: the file is 101 bytes, over the limit max-input-bytes = 100; if the input \
             is legitimate, raise it with KAKINE_MAX_INPUT_BYTES=N"
        );
    }
}
